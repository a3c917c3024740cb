/**
 * Claude Agent SDK + Gatehouse: the `canUseTool` callback and hooks a `query()` would use. A real
 * `query()` needs the Claude Code binary and an API key, so this example calls the callback the
 * way the SDK does. Run: `npx tsx examples/adapters/claude-agent-sdk.ts`.
 *
 *   for await (const message of query({ prompt, options: { canUseTool, hooks } })) { … }
 */
import { createGatehouse } from "../../src/index.js";
import { gatehouseCanUseTool, gatehouseHooks } from "../../src/integrations/adapters/claude-agent-sdk.js";

const gatehouse = await createGatehouse({ policy: new URL("shop.yaml", import.meta.url).pathname });
const canUseTool = gatehouseCanUseTool(gatehouse.gate, { agent: "shop" });
const hooks = gatehouseHooks(gatehouse.gate, { agent: "shop" });
const signal = new AbortController().signal;
console.log("get_order:", await canUseTool("get_order", { order_id: "ord_1" }, { signal, toolUseID: "t1", requestId: "r1" }));
console.log("Bash:", await canUseTool("Bash", { command: "rm -rf /" }, { signal, toolUseID: "t2", requestId: "r2" }));
console.log("hook events:", Object.keys(hooks).join(", "));

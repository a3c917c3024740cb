/**
 * OpenAI Agents SDK + Gatehouse, offline: a scripted `Model` asks for a refund; Gatehouse turns
 * it into an interruption. Run: `npx tsx examples/adapters/openai-agents.ts`.
 */
import { Agent, run, setTracingDisabled, tool, Usage, type Model, type ModelResponse } from "@openai/agents";
import { z } from "zod";
import { createGatehouse } from "../../src/index.js";
import { guardOpenAiAgentsTools } from "../../src/integrations/adapters/openai-agents.js";

// No trace export: everything stays on this machine.
setTracingDisabled(true);

const script: ModelResponse["output"][] = [
  [{ type: "function_call", callId: "c1", name: "refund", arguments: JSON.stringify({ order_id: "ord_1", amount: 20 }), status: "completed" }],
];
const model: Model = {
  getResponse: () => Promise.resolve({ usage: new Usage(), output: script.shift() ?? [] }),
  getStreamedResponse: () => {
    throw new Error("not used");
  },
};
const gatehouse = await createGatehouse({ policy: new URL("shop.yaml", import.meta.url).pathname });
const refund = tool({ name: "refund", description: "Refund an order", parameters: z.object({ order_id: z.string(), amount: z.number() }), execute: ({ amount }) => ({ refunded: amount }) });
const agent = new Agent({ name: "shop", instructions: "help", model, tools: guardOpenAiAgentsTools(gatehouse.gate, [refund], { agent: "shop" }) });
const result = await run(agent, "Refund ord_1 by 20");
console.log("interruptions:", result.interruptions.map((i) => `${i.name ?? "?"} ${JSON.stringify(i.arguments)}`));

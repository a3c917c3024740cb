/**
 * LangChain.js + Gatehouse, offline: @langchain/core's fake chat model asks for a call the
 * policy does not list, and reads the refusal. Run: `npx tsx examples/adapters/langchain.ts`.
 */
import { AIMessageChunk } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { FakeStreamingChatModel } from "@langchain/core/utils/testing";
import { z } from "zod";
import { createGatehouse } from "../../src/index.js";
import { guardLangChainTools } from "../../src/integrations/adapters/langchain.js";

const gatehouse = await createGatehouse({ policy: new URL("shop.yaml", import.meta.url).pathname });
const deleteCustomer = tool(() => "deleted", { name: "delete_customer", description: "Delete a customer", schema: z.object({ id: z.string() }) });
const [guarded] = guardLangChainTools(gatehouse.gate, [deleteCustomer], { agent: "shop" });
const model = new FakeStreamingChatModel({
  chunks: [new AIMessageChunk({ content: "", tool_calls: [{ name: "delete_customer", args: { id: "c1" }, id: "call_1", type: "tool_call" }] })],
}).bindTools([guarded!]);
const ai = await model.invoke("delete customer c1");
for (const call of ai.tool_calls ?? []) {
  const message = (await guarded!.invoke({ ...call, type: "tool_call" })) as { content: unknown };
  console.log(call.name, "→", String(message.content));
}

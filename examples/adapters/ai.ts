/**
 * Vercel AI SDK (v6) + Gatehouse, offline: the SDK's MockLanguageModelV3 asks for two calls; the
 * allowed one runs, the refund becomes a tool-approval request. Run: `npx tsx examples/adapters/ai.ts`.
 */
import { generateText, stepCountIs, tool } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { z } from "zod";
import { createGatehouse } from "../../src/index.js";
import { guardAiSdkTools } from "../../src/integrations/adapters/ai.js";

const gatehouse = await createGatehouse({ policy: new URL("shop.yaml", import.meta.url).pathname });
const tools = guardAiSdkTools(
  gatehouse.gate,
  {
    get_order: tool({ inputSchema: z.object({ order_id: z.string() }), execute: ({ order_id }) => Promise.resolve({ order_id, status: "shipped" }) }),
    refund: tool({ inputSchema: z.object({ order_id: z.string(), amount: z.number() }), execute: ({ amount }) => Promise.resolve({ refunded: amount }) }),
  },
  { agent: "shop" },
);
const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
const model = new MockLanguageModelV3({
  doGenerate: [
    {
      content: [
        { type: "tool-call", toolCallId: "c1", toolName: "get_order", input: JSON.stringify({ order_id: "ord_1" }) },
        { type: "tool-call", toolCallId: "c2", toolName: "refund", input: JSON.stringify({ order_id: "ord_1", amount: 20 }) },
      ],
      finishReason: { unified: "tool-calls", raw: undefined },
      usage,
      warnings: [],
    },
  ],
});
const result = await generateText({ model, tools, stopWhen: stepCountIs(1), prompt: "Where is ord_1? Refund it." });
for (const part of result.content) {
  if (part.type === "tool-result") console.log("ran", part.toolName, JSON.stringify(part.output));
  if (part.type === "tool-approval-request") console.log("needs approval:", part.toolCall.toolName, JSON.stringify(part.toolCall.input));
}

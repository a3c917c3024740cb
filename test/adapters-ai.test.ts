import { generateText, stepCountIs, tool, type ModelMessage } from "ai";
import { MockLanguageModelV3 } from "ai/test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { guardAiSdkTools } from "../src/integrations/adapters/ai.js";
import { auditTrail, createHarness } from "./adapters-helpers.js";

const usage = { inputTokens: { total: 10, noCache: 10, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 5, text: 5, reasoning: 0 } };
const callTool = (toolName: string, input: unknown, toolCallId = "call_1") => ({
  content: [{ type: "tool-call" as const, toolCallId, toolName, input: JSON.stringify(input) }],
  finishReason: { unified: "tool-calls" as const, raw: undefined },
  usage,
  warnings: [],
});
const say = (text: string) => ({ content: [{ type: "text" as const, text }], finishReason: { unified: "stop" as const, raw: undefined }, usage, warnings: [] });

function shopTools(ran: string[]) {
  return {
    get_order: tool({
      description: "Look up an order",
      inputSchema: z.object({ order_id: z.string() }),
      execute: ({ order_id }) => {
        ran.push(`get_order:${order_id}`);
        return Promise.resolve({ order_id, status: "shipped" });
      },
    }),
    refund: tool({
      description: "Refund an order",
      inputSchema: z.object({ order_id: z.string(), amount: z.number() }),
      execute: ({ order_id, amount }) => {
        ran.push(`refund:${order_id}:${amount}`);
        return Promise.resolve({ refunded: amount });
      },
    }),
    delete_customer: tool({
      description: "Delete a customer",
      inputSchema: z.object({ id: z.string() }),
      execute: () => {
        ran.push("delete_customer");
        return Promise.resolve("deleted");
      },
    }),
  };
}

describe("Vercel AI SDK adapter (ai 6, driven by the SDK's MockLanguageModelV3)", () => {
  it("runs an allowed call and records its decision and outcome", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const result = await generateText({
      model: new MockLanguageModelV3({ doGenerate: [callTool("get_order", { order_id: "ord_1" }), say("It shipped.")] }),
      tools: guardAiSdkTools(h.gate, shopTools(ran), { agent: "shop" }),
      stopWhen: stepCountIs(3),
      prompt: "Where is ord_1?",
    });
    expect(ran).toEqual(["get_order:ord_1"]);
    expect(result.steps[0]!.toolResults[0]!.output).toEqual({ order_id: "ord_1", status: "shipped" });
    expect(result.text).toBe("It shipped.");
    expect(auditTrail(h.audit)).toEqual([["get_order", "decision:allow"], ["get_order", "outcome:ok"]]);
  });

  it("returns a readable refusal for a denied call and never runs it", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const result = await generateText({
      model: new MockLanguageModelV3({ doGenerate: [callTool("delete_customer", { id: "c1" }), say("I cannot.")] }),
      tools: guardAiSdkTools(h.gate, shopTools(ran), { agent: "shop" }),
      stopWhen: stepCountIs(3),
      prompt: "Delete c1",
    });
    expect(ran).toEqual([]);
    expect(result.steps[0]!.toolResults[0]!.output).toMatchObject({ gatehouse: "denied", message: expect.stringMatching(/Gatehouse denied `delete_customer`: .*not listed/) });
    expect(auditTrail(h.audit)).toEqual([["delete_customer", "decision:deny"]]);
  });

  it("maps ask onto the SDK's tool approval, and runs the call once a person approved it in Gatehouse", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const tools = guardAiSdkTools(h.gate, shopTools(ran), { agent: "shop" });
    const first = await generateText({
      model: new MockLanguageModelV3({ doGenerate: [callTool("refund", { order_id: "ord_1", amount: 20 })] }),
      tools,
      stopWhen: stepCountIs(3),
      prompt: "Refund ord_1 by 20",
    });
    const request = first.content.find((p) => p.type === "tool-approval-request");
    expect(request).toBeDefined();
    expect(ran).toEqual([]);
    const approvalId = await h.approvePending();
    const messages: ModelMessage[] = [
      { role: "user", content: "Refund ord_1 by 20" },
      ...first.response.messages,
      { role: "tool", content: [{ type: "tool-approval-response", approvalId: request!.type === "tool-approval-request" ? request!.approvalId : "", approved: true }] },
    ];
    const second = await generateText({
      model: new MockLanguageModelV3({ doGenerate: [say("Refunded.")] }),
      tools,
      stopWhen: stepCountIs(3),
      messages,
    });
    expect(ran).toEqual(["refund:ord_1:20"]);
    expect(second.text).toBe("Refunded.");
    const decisions = h.audit.events().filter((e) => e.tool === "refund" && e.type === "decision");
    expect(decisions.map((e) => e.decision?.code)).toEqual(["asked-by-default", "allowed-by-approval"]);
    expect(decisions[1]!.approvals ?? [approvalId]).toContain(approvalId);
    expect(auditTrail(h.audit).at(-1)).toEqual(["refund", "outcome:ok"]);
  });
});

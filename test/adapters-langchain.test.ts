import { AIMessageChunk, HumanMessage, type BaseMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { FakeStreamingChatModel } from "@langchain/core/utils/testing";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { guardLangChainTools } from "../src/integrations/adapters/langchain.js";
import { auditTrail, createHarness } from "./adapters-helpers.js";

function shopTools(ran: string[]) {
  return [
    tool(({ order_id }: { order_id: string }) => {
      ran.push(`get_order:${order_id}`);
      return JSON.stringify({ order_id, status: "shipped" });
    }, { name: "get_order", description: "Look up an order", schema: z.object({ order_id: z.string() }) }),
    tool(({ order_id, amount }: { order_id: string; amount: number }) => {
      ran.push(`refund:${order_id}:${amount}`);
      return JSON.stringify({ refunded: amount });
    }, { name: "refund", description: "Refund an order", schema: z.object({ order_id: z.string(), amount: z.number() }) }),
    tool(() => {
      ran.push("delete_customer");
      return "deleted";
    }, { name: "delete_customer", description: "Delete a customer", schema: z.object({ id: z.string() }) }),
  ];
}

/** One turn of the usual LangChain tool loop: the fake model asks for a call, the tool runs it. */
async function turn(toolCall: { name: string; args: Record<string, unknown> }, tools: ReturnType<typeof guardLangChainTools>) {
  const model = new FakeStreamingChatModel({ chunks: [new AIMessageChunk({ content: "", tool_calls: [{ ...toolCall, id: "call_1", type: "tool_call" }] })] });
  const bound = model.bindTools(tools);
  const messages: BaseMessage[] = [new HumanMessage("help")];
  const ai = await bound.invoke(messages);
  expect(ai.tool_calls).toHaveLength(1);
  const call = ai.tool_calls![0]!;
  const selected = tools.find((t) => t.name === call.name)!;
  const message = (await selected.invoke({ ...call, type: "tool_call" })) as { content: unknown };
  return String(message.content);
}

describe("LangChain.js adapter (driven by @langchain/core's FakeStreamingChatModel)", () => {
  it("runs an allowed call and records it", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const output = await turn({ name: "get_order", args: { order_id: "ord_1" } }, guardLangChainTools(h.gate, shopTools(ran), { agent: "shop" }));
    expect(ran).toEqual(["get_order:ord_1"]);
    expect(JSON.parse(output)).toEqual({ order_id: "ord_1", status: "shipped" });
    expect(auditTrail(h.audit)).toEqual([["get_order", "decision:allow"], ["get_order", "outcome:ok"]]);
  });

  it("scrubs a secret the tool returns before the model or the audit log sees it", async () => {
    const h = createHarness();
    const secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    const leaky = [tool(() => `token=${secret}`, { name: "get_order", description: "Look up an order", schema: z.object({ order_id: z.string() }) })];
    const output = await turn({ name: "get_order", args: { order_id: "ord_1" } }, guardLangChainTools(h.gate, leaky, { agent: "shop" }));
    expect(output).not.toContain(secret);
    expect(JSON.stringify(h.audit.events())).not.toContain(secret);
  });

  it("returns a readable refusal for a denied call", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const output = await turn({ name: "delete_customer", args: { id: "c1" } }, guardLangChainTools(h.gate, shopTools(ran), { agent: "shop" }));
    expect(ran).toEqual([]);
    expect(JSON.parse(output)).toMatchObject({ gatehouse: "denied", message: expect.stringMatching(/Gatehouse denied `delete_customer`/) });
    expect(auditTrail(h.audit)).toEqual([["delete_customer", "decision:deny"]]);
  });

  it("completes an approval round trip: pending, approved in Gatehouse, the identical retry runs once", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const tools = guardLangChainTools(h.gate, shopTools(ran), { agent: "shop" });
    const refund = { name: "refund", args: { order_id: "ord_1", amount: 20 } };
    const pending = JSON.parse(await turn(refund, tools));
    expect(pending).toMatchObject({ gatehouse: "pending", approvalId: expect.any(String) });
    expect(ran).toEqual([]);
    expect(await h.approvePending()).toBe(pending.approvalId);
    expect(JSON.parse(await turn(refund, tools))).toEqual({ refunded: 20 });
    expect(ran).toEqual(["refund:ord_1:20"]);
    // Single use: a third identical call asks again.
    expect(JSON.parse(await turn(refund, tools))).toMatchObject({ gatehouse: "pending" });
    expect(ran).toEqual(["refund:ord_1:20"]);
  });
});

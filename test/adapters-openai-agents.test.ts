import { Agent, run, setTracingDisabled, tool, Usage, type Model, type ModelRequest, type ModelResponse } from "@openai/agents";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { guardOpenAiAgentsTools } from "../src/integrations/adapters/openai-agents.js";
import { auditTrail, createHarness } from "./adapters-helpers.js";

// No trace export: everything stays on this machine.
setTracingDisabled(true);

/**
 * A `Model` (the SDK's own interface for custom model providers) that answers from a script:
 * no network. It implements `getResponse`; streaming is not used by these runs.
 */
class ScriptedModel implements Model {
  readonly requests: ModelRequest[] = [];
  constructor(private readonly script: ModelResponse["output"][]) {}
  getResponse(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(request);
    const output = this.script.shift();
    if (!output) throw new Error("the script has no more responses");
    return Promise.resolve({ usage: new Usage(), output });
  }
  getStreamedResponse(): AsyncIterable<never> {
    throw new Error("not streamed in these tests");
  }
}

const callTool = (name: string, args: unknown, callId = "call_1"): ModelResponse["output"] => [
  { type: "function_call", callId, name, arguments: JSON.stringify(args), status: "completed" },
];
const say = (text: string): ModelResponse["output"] => [
  { type: "message", role: "assistant", status: "completed", content: [{ type: "output_text", text }] },
];

function shopTools(ran: string[]) {
  return [
    tool({
      name: "get_order",
      description: "Look up an order",
      parameters: z.object({ order_id: z.string() }),
      execute: ({ order_id }) => {
        ran.push(`get_order:${order_id}`);
        return { order_id, status: "shipped" };
      },
    }),
    tool({
      name: "refund",
      description: "Refund an order",
      parameters: z.object({ order_id: z.string(), amount: z.number() }),
      execute: ({ order_id, amount }) => {
        ran.push(`refund:${order_id}:${amount}`);
        return { refunded: amount };
      },
    }),
    tool({
      name: "delete_customer",
      description: "Delete a customer",
      parameters: z.object({ id: z.string() }),
      execute: () => {
        ran.push("delete_customer");
        return "deleted";
      },
    }),
  ];
}

describe("OpenAI Agents SDK adapter (driven by a scripted Model, no network)", () => {
  it("runs an allowed call and records it", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const model = new ScriptedModel([callTool("get_order", { order_id: "ord_1" }), say("It shipped.")]);
    const agent = new Agent({ name: "shop", instructions: "help", model, tools: guardOpenAiAgentsTools(h.gate, shopTools(ran), { agent: "shop" }) });
    const result = await run(agent, "Where is ord_1?");
    expect(ran).toEqual(["get_order:ord_1"]);
    expect(result.finalOutput).toBe("It shipped.");
    expect(auditTrail(h.audit)).toEqual([["get_order", "decision:allow"], ["get_order", "outcome:ok"]]);
  });

  it("returns a readable refusal for a denied call, which the model sees", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const model = new ScriptedModel([callTool("delete_customer", { id: "c1" }), say("I cannot.")]);
    const agent = new Agent({ name: "shop", instructions: "help", model, tools: guardOpenAiAgentsTools(h.gate, shopTools(ran), { agent: "shop" }) });
    await run(agent, "Delete c1");
    expect(ran).toEqual([]);
    expect(JSON.stringify(model.requests[1]!.input)).toMatch(/Gatehouse denied `delete_customer`/);
    expect(auditTrail(h.audit)).toEqual([["delete_customer", "decision:deny"]]);
  });

  it("maps ask onto an interruption, and runs the call once a person approved it in Gatehouse", async () => {
    const h = createHarness();
    const ran: string[] = [];
    const model = new ScriptedModel([callTool("refund", { order_id: "ord_1", amount: 20 }), say("Refunded.")]);
    const agent = new Agent({ name: "shop", instructions: "help", model, tools: guardOpenAiAgentsTools(h.gate, shopTools(ran), { agent: "shop" }) });
    const first = await run(agent, "Refund ord_1 by 20");
    expect(first.interruptions).toHaveLength(1);
    expect(ran).toEqual([]);
    await h.approvePending();
    first.state.approve(first.interruptions[0]!);
    const second = await run(agent, first.state);
    expect(ran).toEqual(["refund:ord_1:20"]);
    expect(second.finalOutput).toBe("Refunded.");
    const codes = h.audit.events().filter((e) => e.tool === "refund" && e.type === "decision").map((e) => e.decision?.code);
    expect(codes[0]).toBe("asked-by-default");
    expect(codes.at(-1)).toBe("allowed-by-approval");
    expect(auditTrail(h.audit).at(-1)).toEqual(["refund", "outcome:ok"]);
  });
});

import type { PostToolUseHookInput, PreToolUseHookInput } from "@anthropic-ai/claude-agent-sdk";
import { describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createGate } from "../src/gate/index.js";
import { gatehouseCanUseTool, gatehouseHooks } from "../src/integrations/adapters/claude-agent-sdk.js";
import { parsePolicy } from "../src/policy/index.js";

const policy = parsePolicy(`
version: 1
agents: { support: { owner: a@example.com, environment: production } }
tools:
  get_order: { risk: read-only, args: { type: object, properties: { id: { type: string } }, required: [id] } }
  refund: { risk: high-risk-write }
  Bash: { risk: high-risk-write }
defaults: { read-only: allow, high-risk-write: ask }
`);

const signal = new AbortController().signal;

describe("Claude Agent SDK adapter (called with the SDK's own types; a full query() needs the Claude Code binary and an API key)", () => {
  it("allows a listed call, denies an unlisted one with a readable message, asks for a risky one, and records each", async () => {
    const audit = createMemoryAuditLog();
    const canUseTool = gatehouseCanUseTool(createGate({ policy, audit }), { agent: "support" });
    expect(await canUseTool("get_order", { id: "o1" }, { signal, toolUseID: "t1", requestId: "r-t1" })).toEqual({ behavior: "allow", updatedInput: { id: "o1" } });
    const denied = await canUseTool("delete_everything", {}, { signal, toolUseID: "t2", requestId: "r-t2" });
    expect(denied).toMatchObject({ behavior: "deny", message: expect.stringMatching(/Gatehouse denied `delete_everything`/) });
    const asked = await canUseTool("refund", { amount: 5 }, { signal, toolUseID: "t3", requestId: "r-t3" });
    expect(asked).toMatchObject({ behavior: "deny", message: expect.stringMatching(/approval/) });
    expect(audit.events().map((e) => [e.tool, e.decision?.verdict])).toEqual([["get_order", "allow"], ["delete_everything", "deny"], ["refund", "ask"]]);
  });

  it("hook definitions decide PreToolUse and record PostToolUse under the same id", async () => {
    const audit = createMemoryAuditLog();
    const hooks = gatehouseHooks(createGate({ policy, audit }), { agent: "support" });
    const base = { session_id: "s1", transcript_path: "/t", cwd: "/w" };
    const pre: PreToolUseHookInput = { ...base, hook_event_name: "PreToolUse", tool_name: "get_order", tool_input: { id: "o1" }, tool_use_id: "u1" };
    const answer = await hooks.PreToolUse![0]!.hooks[0]!(pre, "u1", { signal });
    expect(answer).toMatchObject({ hookSpecificOutput: { permissionDecision: "allow" } });
    const post: PostToolUseHookInput = { ...base, hook_event_name: "PostToolUse", tool_name: "get_order", tool_input: { id: "o1" }, tool_response: { status: "shipped" }, tool_use_id: "u1" };
    await hooks.PostToolUse![0]!.hooks[0]!(post, "u1", { signal });
    const [decision, outcome] = audit.events();
    expect(decision?.type).toBe("decision");
    expect(outcome?.type).toBe("outcome");
    expect(outcome?.action).toBe(decision?.action);
    const bash: PreToolUseHookInput = { ...base, hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: "rm -rf /" }, tool_use_id: "u2" };
    expect(await hooks.PreToolUse![0]!.hooks[0]!(bash, "u2", { signal })).toMatchObject({ hookSpecificOutput: { permissionDecision: "ask" } });
  });
});

describe("Claude Agent SDK adapter with Gatehouse approvals", () => {
  it("completes an approval round trip through canUseTool", async () => {
    const { createHarness, auditTrail } = await import("./adapters-helpers.js");
    const h = createHarness();
    const canUseTool = gatehouseCanUseTool(h.gate, { agent: "shop" });
    const input = { order_id: "ord_1", amount: 20 };
    const first = await canUseTool("refund", input, { signal, toolUseID: "t1", requestId: "r-t1" });
    expect(first).toMatchObject({ behavior: "deny", message: expect.stringMatching(/awaits approval \(request [0-9a-f-]+/) });
    await h.approvePending();
    expect(await canUseTool("refund", input, { signal, toolUseID: "t2", requestId: "r-t2" })).toEqual({ behavior: "allow", updatedInput: input });
    expect(auditTrail(h.audit)).toEqual([["refund", "decision:ask"], ["refund", "decision:allow"]]);
  });
});

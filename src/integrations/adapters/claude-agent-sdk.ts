import type { CanUseTool, HookCallbackMatcher, HookInput, PermissionResult, SyncHookJSONOutput } from "@anthropic-ai/claude-agent-sdk";
import type { Gate } from "../../gate/index.js";
import { decideCall, refusalFor, scrubberOf, whoOf, type AdapterOptions } from "./decide.js";

export type { AdapterOptions, GatehouseRefusal } from "./decide.js";

/** Who acts, for every call one `query()` makes. */
export type ClaudeAgentGuardOptions = AdapterOptions;

/**
 * A `canUseTool` callback for the Claude Agent SDK backed by the Gate: `allow` runs the tool
 * with the arguments as checked, `deny` returns the reason the model reads, `ask` (and any error)
 * is a deny that says the call awaits approval — the SDK has no pending state to return to.
 *
 * @example
 * for await (const m of query({ prompt, options: { canUseTool: gatehouseCanUseTool(gate, { agent: "support" }) } })) …
 */
export function gatehouseCanUseTool(gate: Gate, options: ClaudeAgentGuardOptions = {}): CanUseTool {
  return async (toolName, input): Promise<PermissionResult> => {
    try {
      const { decision } = await decideCall(gate, toolName, input, options);
      if (decision.verdict === "allow") return { behavior: "allow", updatedInput: (decision.args ?? input) as Record<string, unknown> };
      // The SDK has no pending state: an `ask` is a deny naming the approval request; the
      // identical retry runs once a person approved it in Gatehouse.
      return { behavior: "deny", message: refusalFor(toolName, decision).message };
    } catch (error) {
      return { behavior: "deny", message: `Gatehouse denied \`${toolName}\`: ${error instanceof Error ? error.message : String(error)}` };
    }
  };
}

/**
 * `PreToolUse` and `PostToolUse` hook definitions for the SDK's `options.hooks`, backed by the
 * Gate: PreToolUse answers with `permissionDecision`; PostToolUse records the outcome. Failures
 * block (`onFailure`-independent: the callback itself answers deny).
 */
export function gatehouseHooks(gate: Gate, options: ClaudeAgentGuardOptions = {}): Partial<Record<"PreToolUse" | "PostToolUse", HookCallbackMatcher[]>> {
  const ids = new Map<string, string>();
  const who = whoOf(options);
  const scrubber = scrubberOf(options);
  const pre = async (input: HookInput): Promise<SyncHookJSONOutput> => {
    if (input.hook_event_name !== "PreToolUse") return {};
    try {
      const { id, decision } = await gate.decide({ ...who, run: options.run ?? input.session_id, tool: input.tool_name, args: input.tool_input });
      ids.set(input.tool_use_id, id);
      const permissionDecision = decision.verdict === "allow" ? "allow" : decision.verdict === "ask" && !decision.approval ? "ask" : "deny";
      return { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision, permissionDecisionReason: `Gatehouse: ${decision.reasons.join("; ") || decision.code}` } };
    } catch (error) {
      return { hookSpecificOutput: { hookEventName: "PreToolUse", permissionDecision: "deny", permissionDecisionReason: `Gatehouse: ${error instanceof Error ? error.message : String(error)}` } };
    }
  };
  const post = async (input: HookInput): Promise<SyncHookJSONOutput> => {
    if (input.hook_event_name !== "PostToolUse") return {};
    const id = ids.get(input.tool_use_id) ?? `claude-agent-sdk:${input.tool_use_id}`;
    ids.delete(input.tool_use_id);
    let scrubbed: unknown;
    try {
      scrubbed = scrubber.scrubValue(input.tool_response);
    } catch {
      return { hookSpecificOutput: { hookEventName: "PostToolUse", updatedToolOutput: "[withheld by Gatehouse: the result could not be scrubbed of secrets]" } };
    }
    try {
      await gate.recordOutcome(id, { ...who, run: options.run ?? input.session_id, tool: input.tool_name, args: input.tool_input }, { status: "ok", result: scrubbed });
      // The model reads the scrubbed output when the scrubber changed anything.
      return JSON.stringify(scrubbed) === JSON.stringify(input.tool_response) ? {} : { hookSpecificOutput: { hookEventName: "PostToolUse", updatedToolOutput: scrubbed } };
    } catch {
      return { hookSpecificOutput: { hookEventName: "PostToolUse", updatedToolOutput: "[withheld by Gatehouse: the audit log could not record this result]" } };
    }
  };
  return { PreToolUse: [{ hooks: [pre] }], PostToolUse: [{ hooks: [post] }] };
}

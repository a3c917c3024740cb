import type { Tool, ToolExecutionOptions, ToolSet } from "ai";
import type { Gate } from "../../gate/index.js";
import { decideCall, refusalFor, runAllowed, type AdapterOptions, type DecidedCall, type GatehouseRefusal } from "./decide.js";

export type { AdapterOptions, GatehouseRefusal } from "./decide.js";

/**
 * Guards a Vercel AI SDK (v6) `tools` object. Each tool's `needsApproval` asks the Gate first: a
 * Gatehouse `ask` becomes the SDK's tool-approval request (`tool-approval-request` parts); an
 * `allow` lets the call run without a prompt; a `deny` makes `execute` return a readable refusal.
 * When the SDK later runs an approved call, `execute` asks the Gate again: with the approvals
 * check in the gate's chain, the call runs only once a person approved it in Gatehouse
 * (`approvals.answer`), single use, bound to these exact arguments. The SDK's approval alone
 * does not widen what Gatehouse allows.
 *
 * @example
 * const result = await generateText({ model, tools: guardAiSdkTools(gate, { getOrder }), prompt });
 */
export function guardAiSdkTools<T extends ToolSet>(gate: Gate, tools: T, options: AdapterOptions = {}): T {
  const guarded: Record<string, Tool> = {};
  for (const [name, original] of Object.entries(tools)) {
    // Decisions made in `needsApproval`, reused by `execute` for the same tool call (one audit record per call).
    const decided = new Map<string, DecidedCall>();
    const execute = original.execute as ((input: unknown, o: ToolExecutionOptions) => unknown) | undefined;
    const own = original.needsApproval as boolean | ((input: unknown, o: { toolCallId: string; messages: unknown[] }) => boolean | PromiseLike<boolean>) | undefined;
    guarded[name] = {
      ...original,
      needsApproval: async (input: unknown, o: { toolCallId: string; messages: unknown[] }) => {
        const call = await decideCall(gate, name, input, options);
        if (call.decision.verdict === "ask") return true;
        decided.set(o.toolCallId, call);
        // ai 6 asks `needsApproval` again when it resumes an approved call and refuses to run it
        // unless the answer is still "needs approval": a call Gatehouse allows because a person
        // approved it goes through the SDK's approval path, with this decision reused by `execute`.
        if (call.decision.code === "allowed-by-approval") return true;
        // The tool's own approval rule still applies on top of an allow.
        return call.decision.verdict === "allow" && (own === true || (typeof own === "function" && (await own(input, o))));
      },
      execute: async (input: unknown, o: ToolExecutionOptions): Promise<unknown> => {
        let call = decided.get(o.toolCallId);
        decided.delete(o.toolCallId);
        // After an SDK approval (or when needsApproval was skipped), the Gate decides afresh.
        call ??= await decideCall(gate, name, input, options);
        if (call.decision.verdict !== "allow") return refusalFor(name, call.decision) satisfies GatehouseRefusal;
        if (!execute) return refusalFor(name, { ...call.decision, verdict: "deny", reasons: ["the tool has no `execute`"] });
        return runAllowed(gate, call, (args) => execute(args, o), options);
      },
    };
  }
  return guarded as T;
}

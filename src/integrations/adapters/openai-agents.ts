import type { FunctionTool, RunContext } from "@openai/agents";
import type { Gate } from "../../gate/index.js";
import { decideCall, refusalFor, runAllowed, type AdapterOptions, type DecidedCall } from "./decide.js";

export type { AdapterOptions, GatehouseRefusal } from "./decide.js";

type AnyFunctionTool = FunctionTool<any, any, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tools of any context and schema

/**
 * Guards OpenAI Agents SDK function tools. `needsApproval` asks the Gate: a Gatehouse `ask`
 * becomes the SDK's interruption (`result.interruptions`, `state.approve(item)`); `deny` makes
 * the tool return a readable refusal; `allow` runs it. When the run resumes, the Gate decides
 * again: the call runs only if a person approved it in Gatehouse (`approvals.answer`), single
 * use, bound to these exact arguments — an SDK-side approval alone does not widen the policy.
 *
 * @example
 * const agent = new Agent({ name: "shop", tools: guardOpenAiAgentsTools(gate, [getOrder, refund]) });
 */
export function guardOpenAiAgentsTools<T extends AnyFunctionTool>(gate: Gate, tools: readonly T[], options: AdapterOptions = {}): T[] {
  return tools.map((original) => {
    const decided = new Map<string, DecidedCall>();
    const needsApproval = async (_context: RunContext, input: unknown, callId?: string): Promise<boolean> => {
      const call = await decideCall(gate, original.name, input, options);
      if (call.decision.verdict === "ask") return true;
      if (callId !== undefined) decided.set(callId, call);
      // The SDK re-evaluates the policy when it resumes an approved call: a call Gatehouse
      // allows because a person approved it stays on the approval path.
      return call.decision.code === "allowed-by-approval";
    };
    const invoke: AnyFunctionTool["invoke"] = async (context, input, details) => {
      const callId = details?.toolCall?.callId;
      let call = callId === undefined ? undefined : decided.get(callId);
      if (callId !== undefined) decided.delete(callId);
      if (!call) {
        let args: unknown;
        try {
          args = JSON.parse(input);
        } catch {
          return JSON.stringify({ gatehouse: "denied", tool: original.name, message: `Gatehouse denied \`${original.name}\`: its arguments are not JSON` });
        }
        call = await decideCall(gate, original.name, args, options);
      }
      if (call.decision.verdict !== "allow") return JSON.stringify(refusalFor(original.name, call.decision));
      const result: unknown = await runAllowed(gate, call, (args): Promise<unknown> => original.invoke(context, JSON.stringify(args), details), options);
      return result;
    };
    return { ...original, needsApproval, invoke };
  });
}

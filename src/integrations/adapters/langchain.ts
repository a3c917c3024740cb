import { DynamicStructuredTool, type StructuredToolInterface } from "@langchain/core/tools";
import type { Gate } from "../../gate/index.js";
import { decideCall, refusalFor, runAllowed, type AdapterOptions } from "./decide.js";

export type { AdapterOptions, GatehouseRefusal } from "./decide.js";

/**
 * Guards LangChain.js tools (`@langchain/core` structured tools). Each returned tool has the same
 * name, description and schema; its call asks the Gate first and runs the original tool only on
 * `allow`, with the arguments as checked. `deny` and `ask` return a refusal the model reads (JSON
 * with `gatehouse`, `message`, and for `ask` the `approvalId`): LangChain's core has no approval
 * pause, so the agent retries the identical call once a person approved it in Gatehouse.
 *
 * @example
 * const tools = guardLangChainTools(gate, [getOrder, refund], { agent: "shop" });
 * const model = chatModel.bindTools(tools);
 */
export function guardLangChainTools(gate: Gate, tools: readonly StructuredToolInterface[], options: AdapterOptions = {}): DynamicStructuredTool[] {
  return tools.map(
    (original) =>
      new DynamicStructuredTool({
        name: original.name,
        description: original.description,
        schema: original.schema as never,
        func: async (input: unknown): Promise<unknown> => {
          const call = await decideCall(gate, original.name, input, options);
          if (call.decision.verdict !== "allow") return JSON.stringify(refusalFor(original.name, call.decision));
          const result: unknown = await runAllowed(gate, call, (args): Promise<unknown> => original.invoke(args as never), options);
          return typeof result === "object" && result !== null && "gatehouse" in result ? JSON.stringify(result) : result;
        },
      }),
  );
}

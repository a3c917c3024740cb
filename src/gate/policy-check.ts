import type { CompiledPolicy } from "../policy/index.js";
import { evaluatePolicy } from "../policy/index.js";
import { proceed, stop, type Check } from "./check.js";

/**
 * The policy check: allow-list, argument constraints, rules and defaults. A deny stops the chain;
 * any other verdict is provisional, for the checks after it (limits, approvals) to refine.
 */
export function policyCheck(policy: CompiledPolicy): Check {
  return function checkPolicy(action) {
    const decision = evaluatePolicy(policy, action);
    return decision.verdict === "deny" ? stop(decision) : proceed(decision);
  };
}

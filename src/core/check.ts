import type { Action } from "./action.js";
import type { Decision } from "./decision.js";

/**
 * What a check hands back: go on to the next check (optionally with a provisional decision that
 * later checks may refine), or stop with a final decision.
 */
export type CheckOutcome =
  | { readonly next: true; readonly decision?: Decision }
  | { readonly next: false; readonly decision: Decision };

/** What a check sees besides the action: the decision the checks before it arrived at, if any. */
export interface CheckContext {
  readonly decision?: Decision;
}

/**
 * The one shape every check has. A check never calls another check; only the gate moves the chain
 * forward. Checks are built by factories that compile their options once. The type lives in core
 * so that checks (approvals, dryrun, …) depend on core only, never on the gate.
 */
export type Check = (action: Action, context: CheckContext) => CheckOutcome | Promise<CheckOutcome>;

/** Stops the chain with `decision`. */
export function stop(decision: Decision): CheckOutcome {
  return { next: false, decision };
}

/** Goes on, carrying `decision` as the provisional answer. */
export function proceed(decision?: Decision): CheckOutcome {
  return decision ? { next: true, decision } : { next: true };
}

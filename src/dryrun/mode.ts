import type { Check, Environment } from "../core/index.js";
import { proceed, stop } from "../core/index.js";

/** Where dry-run mode is on: whole environments, or single runs. */
export interface DryRunMode {
  readonly environments?: readonly Environment[];
  /** Run ids in dry-run mode, or a predicate (e.g. looked up in a run store). */
  readonly runs?: readonly string[] | ((run: string) => boolean);
}

/**
 * The dry-run mode check: in a dry-run environment or run, every `low-risk-write` and
 * `high-risk-write` call the policy would allow or ask about becomes `dry-run` (code
 * `dry-run-mode`): the tool's preview runs instead, and a tool without one does not run at all.
 * Read-only calls and denials pass through. Put it before the approvals check: a preview needs no
 * approval. A run predicate that throws makes the gate deny (fail closed).
 *
 * @example
 * const gate = createGate({ policy, audit, checks: [dryRunModeCheck({ environments: ["staging"] }), approvals.check] });
 */
export function dryRunModeCheck(mode: DryRunMode): Check {
  const environments = new Set<string>(mode.environments ?? []);
  const runs = mode.runs;
  const runSet = Array.isArray(runs) ? new Set<string>(runs) : undefined;
  const inRun = (run: string | undefined): boolean => {
    if (run === undefined || runs === undefined) return false;
    return runSet ? runSet.has(run) : (runs as (run: string) => boolean)(run);
  };
  return function checkDryRunMode(action, context) {
    const d = context.decision;
    if (!d || (d.verdict !== "allow" && d.verdict !== "ask")) return proceed(d);
    if (d.risk !== "low-risk-write" && d.risk !== "high-risk-write") return proceed(d);
    const byEnvironment = d.environment !== undefined && environments.has(d.environment);
    if (!byEnvironment && !inRun(action.run)) return proceed(d);
    const where = byEnvironment ? `the ${d.environment} environment` : `run \`${action.run}\``;
    // A preview needs no approver: `approvers` and `approval` are not carried over.
    return stop({
      verdict: "dry-run",
      code: "dry-run-mode",
      rules: d.rules,
      reasons: [`${where} is in dry-run mode: ${d.risk} calls run as a preview only`],
      risk: d.risk,
      ...(d.args === undefined ? {} : { args: d.args }),
      ...(d.environment === undefined ? {} : { environment: d.environment }),
      ...(d.agent === undefined ? {} : { agent: d.agent }),
      ...(d.policyDigest === undefined ? {} : { policyDigest: d.policyDigest }),
    });
  };
}

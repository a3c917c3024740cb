import type { Check, Risk } from "../core/index.js";
import { denyDecision, proceed, RISK_CLASSES, stop } from "../core/index.js";
import { classifySql, type SqlDialect } from "./classify.js";
import { DryRunError } from "./errors.js";

/**
 * The SQL class check: for tools that take raw SQL (`run_sql`), the statements' class sets the
 * call's risk — read → `read-only`, write → `low-risk-write` (`high-risk-write` without WHERE),
 * DDL → `high-risk-write` — so dry-run mode and approvers see what the SQL really does. The
 * verdict only ever tightens: a call the policy allows whose SQL is `high-risk-write` or
 * irreversible becomes `ask` (`asked-by-sql-class`); SQL that cannot be classified is denied
 * (`sql-unclassified`). Put it right after the policy, before dry-run mode and approvals.
 *
 * @example
 * createGate({ policy, audit, checks: [sqlClassCheck({ run_sql: "sqlite" }), approvals.check] });
 */
export function sqlClassCheck(tools: Readonly<Record<string, SqlDialect>>): Check {
  const dialects = new Map(Object.entries(tools));
  return function checkSqlClass(action, context) {
    const d = context.decision;
    const dialect = dialects.get(action.tool);
    if (!d || dialect === undefined || d.verdict === "deny") return proceed(d);
    const args = (d.args ?? action.args) as { sql?: unknown } | null;
    let risk: Risk;
    let irreversible: boolean;
    try {
      const c = classifySql(typeof args === "object" && args !== null && typeof args.sql === "string" ? args.sql : "", dialect);
      risk = c.risk;
      irreversible = c.irreversible;
    } catch (error) {
      const reason = error instanceof DryRunError ? error.message : String(error);
      return stop(denyDecision("sql-unclassified", `the SQL could not be classified, so it is refused: ${reason}`, { ...pick(d), rules: d.rules }));
    }
    const declared = d.risk ?? "read-only";
    const raised = RISK_CLASSES.indexOf(risk) > RISK_CLASSES.indexOf(declared);
    if (d.verdict === "allow" && ((raised && risk === "high-risk-write") || irreversible)) {
      return proceed({
        ...d,
        verdict: "ask",
        code: "asked-by-sql-class",
        risk,
        approvers: d.approvers ?? 1,
        reasons: [`the SQL is ${irreversible ? "irreversible (DROP or TRUNCATE)" : risk}: a human must approve it`],
      });
    }
    return proceed({ ...d, risk });
  };
}

function pick(d: { agent?: string; environment?: string; policyDigest?: string; risk?: Risk }) {
  return {
    ...(d.agent === undefined ? {} : { agent: d.agent }),
    ...(d.environment === undefined ? {} : { environment: d.environment }),
    ...(d.policyDigest === undefined ? {} : { policyDigest: d.policyDigest }),
    ...(d.risk === undefined ? {} : { risk: d.risk }),
  };
}

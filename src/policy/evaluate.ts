import type { Action, Decision, DecisionCode, Risk, Verdict } from "../core/index.js";
import { denyDecision, isEnvironment } from "../core/index.js";
import type { CelActivation } from "./cel.js";
import type { CompiledPolicy, CompiledRule } from "./load.js";
import { closestMatch } from "./suggest.js";

/** Built-in defaults when neither the policy's environment nor its global defaults say. */
const BUILT_IN_DEFAULTS: Readonly<Record<Risk, Verdict>> = {
  "read-only": "allow",
  "low-risk-write": "allow",
  "high-risk-write": "ask",
};

/** One rule's part in a decision, for `explain`. */
export interface RuleTrace {
  readonly rule: string;
  readonly result: "matched" | "not-matched" | "error";
  readonly error?: string;
}

/** A decision with the steps that led to it. */
export interface Explanation {
  readonly decision: Decision;
  readonly trace: readonly RuleTrace[];
}

/**
 * Decides an action against a compiled policy. Pure: no I/O, no clock; the same policy and action
 * always give the same decision. The order, written down once:
 *
 * 1. the action is well-formed (a tool name, arguments that are a JSON object);
 * 2. the agent is declared (or is the policy's only agent);
 * 3. the tool is listed, and listed for this agent;
 * 4. the arguments pass the tool's schema, path arguments normalised first;
 * 5. the rules that can apply to the tool, in file order: the first that matches decides;
 *    a rule whose expression fails to evaluate denies (fail closed);
 * 6. otherwise the default for the tool's risk class: the environment's, then the policy's,
 *    then the built-in; a default never allows an irreversible tool, it asks instead.
 *
 * @example
 * const decision = evaluatePolicy(policy, { tool: "get_order", args: { id: "ord_1" } });
 */
export function evaluatePolicy(policy: CompiledPolicy, action: Action): Decision {
  return explainPolicy(policy, action, false).decision;
}

/** Like `evaluatePolicy`, and also returns how each rule that was looked at came out. */
export function explainPolicy(policy: CompiledPolicy, action: Action, trace = true): Explanation {
  const steps: RuleTrace[] = [];
  const done = (decision: Decision): Explanation => ({ decision: { ...decision, policyDigest: policy.digest }, trace: steps });

  if (typeof action.tool !== "string" || action.tool.length === 0) {
    return done(denyDecision("action-invalid", "the action names no tool"));
  }

  const agentName = action.agent ?? (policy.agents.size === 1 ? [...policy.agents.keys()][0] : undefined);
  if (agentName === undefined) {
    return done(denyDecision("agent-required", "the policy declares several agents; the action must name one"));
  }
  const agent = policy.agents.get(agentName);
  if (!agent) {
    const hint = closestMatch(agentName, policy.agents.keys());
    return done(denyDecision("agent-unknown", `agent \`${agentName}\` is not declared in the policy${hint ? ` (did you mean \`${hint}\`?)` : ""}`));
  }
  if (action.environment !== undefined && !isEnvironment(action.environment)) {
    return done(denyDecision("action-invalid", `environment \`${String(action.environment)}\` is not one of development, staging, production`));
  }
  const environment = action.environment ?? agent.environment;
  const base = { agent: agentName, environment };

  const tool = policy.tools.get(action.tool);
  if (!tool) {
    const hint = closestMatch(action.tool, policy.tools.keys());
    return done(
      denyDecision("tool-not-listed", `tool \`${action.tool}\` is not allowed: it is not listed in the policy${hint ? ` (did you mean \`${hint}\`?)` : ""}`, base),
    );
  }
  if (agent.toolSet && !agent.toolSet.has(tool.name)) {
    return done(denyDecision("tool-not-for-agent", `tool \`${tool.name}\` is not allowed for agent \`${agentName}\``, { ...base, risk: tool.risk }));
  }

  const checked = tool.checkArgs(action.args);
  if (!checked.ok) {
    return done(denyDecision("args-invalid", `${checked.field}: ${checked.message}`, { ...base, risk: tool.risk }));
  }

  const activation: CelActivation = {
    tool: tool.name,
    args: checked.args,
    risk: tool.risk,
    irreversible: tool.irreversible,
    agent: agentName,
    environment,
    principal: action.principal ?? "",
    run: action.run ?? "",
    request: action.request ?? "",
  };
  const common = { ...base, risk: tool.risk, args: checked.args };

  for (const rule of policy.rulesByTool.get(tool.name) ?? []) {
    if (!pinsAdmit(rule, activation)) {
      if (trace) steps.push({ rule: rule.id, result: "not-matched" });
      continue;
    }
    const result = rule.condition.evaluate(activation);
    if (result instanceof Error) {
      if (trace) steps.push({ rule: rule.id, result: "error", error: result.message });
      return done({
        verdict: "deny",
        code: "rule-error",
        rules: [rule.id],
        reasons: [`rule \`${rule.id}\` could not be evaluated: ${result.message}`],
        ...common,
      });
    }
    if (trace) steps.push({ rule: rule.id, result: result ? "matched" : "not-matched" });
    if (result) return done(ruleDecision(rule, common));
  }

  const fromEnvironment = policy.file.defaults?.environments?.[environment]?.[tool.risk];
  const fromPolicy = policy.file.defaults?.[tool.risk];
  const verdict = fromEnvironment ?? fromPolicy ?? BUILT_IN_DEFAULTS[tool.risk];
  const origin = fromEnvironment ? `the ${environment} default` : fromPolicy ? "the policy default" : "the built-in default";
  if (verdict === "allow" && tool.irreversible) {
    return done({
      verdict: "ask",
      code: "asked-irreversible",
      rules: [],
      reasons: [`\`${tool.name}\` is irreversible: only an explicit rule can allow it without approval`],
      approvers: 1,
      ...common,
    });
  }
  return done({
    verdict,
    code: DEFAULT_CODES[verdict],
    rules: [],
    reasons: [`no rule matched; ${origin} for ${tool.risk} tools is ${verdict}`],
    ...(verdict === "ask" ? { approvers: 1 } : {}),
    ...common,
  });
}

/** False when the rule pins a variable to values that exclude this action's: it cannot match. */
function pinsAdmit(rule: CompiledRule, activation: CelActivation): boolean {
  for (const [name, values] of rule.condition.pins) {
    if (!values.has(activation[name])) return false;
  }
  return true;
}

const DEFAULT_CODES: Readonly<Record<Verdict, DecisionCode>> = {
  allow: "allowed-by-default",
  deny: "denied-by-default",
  ask: "asked-by-default",
  "dry-run": "dry-run-by-default",
};

const RULE_CODES: Readonly<Record<Verdict, DecisionCode>> = {
  allow: "allowed-by-rule",
  deny: "denied-by-rule",
  ask: "asked-by-rule",
  "dry-run": "dry-run-by-rule",
};

function ruleDecision(rule: CompiledRule, common: Partial<Decision>): Decision {
  const reason = rule.reason ?? rule.description ?? `rule \`${rule.id}\` matched`;
  return {
    verdict: rule.decision,
    code: RULE_CODES[rule.decision],
    rules: [rule.id],
    reasons: [reason],
    ...(rule.decision === "ask" ? { approvers: rule.approvers ?? 1 } : {}),
    ...common,
  };
}

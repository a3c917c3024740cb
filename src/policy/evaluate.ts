import type { Action, Decision, DecisionCode, Risk, Verdict } from "../core/index.js";
import { isEnvironment } from "../core/index.js";
import { toCelArgs, type CelActivation } from "./cel.js";
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
  const decision = decide(policy, action, trace ? steps : undefined);
  return { decision, trace: steps };
}

/**
 * The decision itself. Hot path: every object is built once, with a fixed shape, so a decision
 * costs a few allocations rather than a cascade of spreads.
 */
function decide(policy: CompiledPolicy, action: Action, steps: RuleTrace[] | undefined): Decision {
  const digest = policy.digest;
  if (typeof action.tool !== "string" || action.tool.length === 0) {
    return refusal(digest, "action-invalid", "the action names no tool");
  }

  const agentName = action.agent ?? policy.onlyAgent;
  if (agentName === undefined) {
    return refusal(digest, "agent-required", "the policy declares several agents; the action must name one");
  }
  const agent = policy.agents.get(agentName);
  if (!agent) {
    const hint = closestMatch(agentName, policy.agents.keys());
    return refusal(digest, "agent-unknown", `agent \`${agentName}\` is not declared in the policy${hint ? ` (did you mean \`${hint}\`?)` : ""}`);
  }
  if (action.environment !== undefined && !isEnvironment(action.environment)) {
    return refusal(digest, "action-invalid", `environment \`${String(action.environment)}\` is not one of development, staging, production`);
  }
  const environment = action.environment ?? agent.environment;

  const tool = policy.tools.get(action.tool);
  if (!tool) {
    const hint = closestMatch(action.tool, policy.tools.keys());
    const reason = `tool \`${action.tool}\` is not allowed: it is not listed in the policy${hint ? ` (did you mean \`${hint}\`?)` : ""}`;
    return refusal(digest, "tool-not-listed", reason, agentName, environment);
  }
  if (agent.toolSet && !agent.toolSet.has(tool.name)) {
    return refusal(digest, "tool-not-for-agent", `tool \`${tool.name}\` is not allowed for agent \`${agentName}\``, agentName, environment, tool.risk);
  }

  const checked = tool.checkArgs(action.args);
  if (!checked.ok) {
    return refusal(digest, "args-invalid", `${checked.field}: ${checked.message}`, agentName, environment, tool.risk);
  }

  const rules = policy.rulesByTool.get(tool.name) ?? NO_COMPILED_RULES;
  const activation: CelActivation = {
    tool: tool.name,
    args: rules.length > 0 ? toCelArgs(checked.args) : checked.args,
    risk: tool.risk,
    irreversible: tool.irreversible,
    agent: agentName,
    environment,
    principal: action.principal ?? "",
    run: action.run ?? "",
    request: action.request ?? "",
  };
  const made = (verdict: Verdict, code: DecisionCode, rules: readonly string[], reason: string, approvers?: number): Decision => ({
    verdict,
    code,
    rules,
    reasons: [reason],
    risk: tool.risk,
    approvers: verdict === "ask" ? (approvers ?? 1) : undefined,
    args: checked.args,
    environment,
    agent: agentName,
    policyDigest: digest,
  });

  for (const rule of rules) {
    if (!pinsAdmit(rule, activation)) {
      steps?.push({ rule: rule.id, result: "not-matched" });
      continue;
    }
    const result = rule.condition.evaluate(activation);
    if (result instanceof Error) {
      steps?.push({ rule: rule.id, result: "error", error: result.message });
      return made("deny", "rule-error", [rule.id], `rule \`${rule.id}\` could not be evaluated: ${result.message}`);
    }
    steps?.push({ rule: rule.id, result: result ? "matched" : "not-matched" });
    if (result) {
      const reason = rule.reason ?? rule.description ?? `rule \`${rule.id}\` matched`;
      return made(rule.decision, RULE_CODES[rule.decision], [rule.id], reason, rule.approvers);
    }
  }

  const fromEnvironment = policy.file.defaults?.environments?.[environment]?.[tool.risk];
  const fromPolicy = policy.file.defaults?.[tool.risk];
  const verdict = fromEnvironment ?? fromPolicy ?? BUILT_IN_DEFAULTS[tool.risk];
  if (verdict === "allow" && tool.irreversible) {
    return made("ask", "asked-irreversible", NO_RULES, `\`${tool.name}\` is irreversible: only an explicit rule can allow it without approval`);
  }
  const origin = fromEnvironment ? `the ${environment} default` : fromPolicy ? "the policy default" : "the built-in default";
  return made(verdict, DEFAULT_CODES[verdict], NO_RULES, `no rule matched; ${origin} for ${tool.risk} tools is ${verdict}`);
}

const NO_RULES: readonly string[] = Object.freeze([]);
const NO_COMPILED_RULES: readonly CompiledRule[] = Object.freeze([]);

function refusal(
  policyDigest: string,
  code: DecisionCode,
  reason: string,
  agent?: string,
  environment?: string,
  risk?: Risk,
): Decision {
  return { verdict: "deny", code, rules: NO_RULES, reasons: [reason], risk, agent, environment, policyDigest };
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

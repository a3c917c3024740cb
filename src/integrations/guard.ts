import type { Action, AuditSink, Decision, DecisionCode } from "../core/index.js";
import { createMemoryAuditLog } from "../audit/index.js";
import { createGate, type Gate } from "../gate/index.js";
import { loadPolicyFile, type CompiledPolicy } from "../policy/index.js";

/** What a tool implementation receives besides its arguments. */
export interface ToolContext {
  /** The audit id pairing this call's decision and outcome. */
  readonly actionId: string;
  readonly agent: string | undefined;
  readonly run: string | undefined;
}

/** A plain async tool function. It receives the arguments as the gate checked them. */
export type ToolFunction = (args: never, context: ToolContext) => unknown;

/** A tool with an optional preview of its effect, used when the gate says `dry-run`. */
export interface ToolDefinition {
  readonly run: ToolFunction;
  readonly dryRun?: ToolFunction;
}

/**
 * What a guarded tool returns to the agent: never a thrown stack trace. `status` says whether the
 * tool ran; `message` is a sentence the model can read and act on.
 */
export type GuardedResult =
  | { readonly status: "ok"; readonly value: unknown }
  | { readonly status: "denied"; readonly code: DecisionCode; readonly message: string; readonly rules: readonly string[] }
  | {
      readonly status: "pending";
      readonly code: DecisionCode;
      readonly message: string;
      readonly approvers: number;
      readonly rules: readonly string[];
      readonly actionId: string;
    }
  | { readonly status: "dry-run"; readonly message: string; readonly preview?: unknown; readonly rules: readonly string[] }
  | { readonly status: "error"; readonly message: string };

/** Who is acting, for every call made through one set of guarded tools. */
export interface GuardOptions {
  readonly agent?: string;
  readonly run?: string;
  readonly principal?: string;
  /** The user's request for this run, when known. */
  readonly request?: string;
}

export type GuardedTools<T> = { readonly [K in keyof T]: (args: unknown) => Promise<GuardedResult> };

/** The library's face: one policy, one gate, one audit sink. */
export interface Gatehouse {
  readonly policy: CompiledPolicy;
  readonly gate: Gate;
  readonly audit: AuditSink;
  /** Decides an action without running anything. */
  decide(action: Action): Promise<Decision>;
  /** Wraps plain tool functions so every call is decided, run only when allowed, and recorded. */
  guard<T extends Record<string, ToolFunction | ToolDefinition>>(tools: T, options?: GuardOptions): GuardedTools<T>;
}

export interface GatehouseOptions {
  /** A compiled policy, or the path of a policy file to load. */
  readonly policy: CompiledPolicy | string;
  /** Where decisions and outcomes are recorded; an in-memory recorder when omitted. */
  readonly audit?: AuditSink;
  readonly clock?: () => Date;
}

/**
 * Creates a Gatehouse from a policy. Loading a file that is invalid rejects with `PolicyError`:
 * nothing is guarded by a half-loaded policy.
 *
 * @example
 * const gatehouse = await createGatehouse({ policy: "gatehouse.yaml" });
 * const tools = gatehouse.guard({ get_order: async (args: { order_id: string }) => db.get(args.order_id) });
 * const result = await tools.get_order({ order_id: "ord_1" }); // { status: "ok", value: … }
 */
export async function createGatehouse(options: GatehouseOptions): Promise<Gatehouse> {
  const policy = typeof options.policy === "string" ? await loadPolicyFile(options.policy) : options.policy;
  const audit = options.audit ?? createMemoryAuditLog();
  const gate = createGate({ policy, audit, ...(options.clock ? { clock: options.clock } : {}) });
  return {
    policy,
    gate,
    audit,
    decide: async (action) => (await gate.decide(action)).decision,
    guard: (tools, guardOptions = {}) => guardTools(gate, tools, guardOptions),
  };
}

/** Wraps each tool of `tools` behind `gate`. */
export function guardTools<T extends Record<string, ToolFunction | ToolDefinition>>(
  gate: Gate,
  tools: T,
  options: GuardOptions = {},
): GuardedTools<T> {
  const guarded: Record<string, (args: unknown) => Promise<GuardedResult>> = {};
  for (const [name, tool] of Object.entries(tools)) {
    const definition: ToolDefinition = typeof tool === "function" ? { run: tool } : tool;
    guarded[name] = (args: unknown) => callGuarded(gate, name, definition, args, options);
  }
  return guarded as GuardedTools<T>;
}

async function callGuarded(
  gate: Gate,
  name: string,
  tool: ToolDefinition,
  args: unknown,
  options: GuardOptions,
): Promise<GuardedResult> {
  const requested: Action = { tool: name, args, ...options };
  const { id, decision } = await gate.decide(requested);
  // Outcomes are recorded as the decision resolved them (the implicit agent, its environment).
  const action: Action = {
    ...requested,
    ...(decision.agent === undefined ? {} : { agent: decision.agent }),
    ...(decision.environment === undefined ? {} : { environment: decision.environment as Action["environment"] }),
  };
  const context: ToolContext = { actionId: id, agent: decision.agent ?? options.agent, run: options.run };
  const reason = decision.reasons.join("; ");
  switch (decision.verdict) {
    case "deny":
      return { status: "denied", code: decision.code, message: `Gatehouse denied \`${name}\`: ${reason}`, rules: decision.rules };
    case "ask":
      return {
        status: "pending",
        code: decision.code,
        message: `\`${name}\` needs approval from ${decision.approvers ?? 1} approver(s) before it can run: ${reason}. It has not run.`,
        approvers: decision.approvers ?? 1,
        rules: decision.rules,
        actionId: id,
      };
    case "dry-run":
      return runDryRun(gate, id, action, name, tool, decision, context);
    case "allow":
      return runAllowed(gate, id, action, name, tool, decision, context);
  }
}

async function runAllowed(
  gate: Gate,
  id: string,
  action: Action,
  name: string,
  tool: ToolDefinition,
  decision: Decision,
  context: ToolContext,
): Promise<GuardedResult> {
  const started = performance.now();
  let result: GuardedResult;
  let outcome;
  try {
    const value: unknown = await (tool.run as (a: unknown, c: ToolContext) => unknown)(decision.args, context);
    result = { status: "ok", value };
    outcome = { status: "ok" as const, result: value, durationMs: performance.now() - started };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    result = { status: "error", message: `\`${name}\` failed: ${message}` };
    outcome = { status: "error" as const, error: message, durationMs: performance.now() - started };
  }
  return withRecordedOutcome(gate, id, action, name, outcome, result);
}

async function runDryRun(
  gate: Gate,
  id: string,
  action: Action,
  name: string,
  tool: ToolDefinition,
  decision: Decision,
  context: ToolContext,
): Promise<GuardedResult> {
  const reason = decision.reasons.join("; ");
  if (!tool.dryRun) {
    return {
      status: "dry-run",
      message: `\`${name}\` was not run: the gate asked for a dry run (${reason}) and the tool has no preview.`,
      rules: decision.rules,
    };
  }
  let preview: unknown;
  try {
    preview = await (tool.dryRun as (a: unknown, c: ToolContext) => unknown)(decision.args, context);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return withRecordedOutcome(gate, id, action, name, { status: "error", error: message }, {
      status: "error",
      message: `the dry run of \`${name}\` failed: ${message}`,
    });
  }
  return withRecordedOutcome(gate, id, action, name, { status: "dry-run", result: preview }, {
    status: "dry-run",
    message: `\`${name}\` ran as a dry run only; nothing was changed (${reason}).`,
    preview,
    rules: decision.rules,
  });
}

async function withRecordedOutcome(
  gate: Gate,
  id: string,
  action: Action,
  name: string,
  outcome: Parameters<Gate["recordOutcome"]>[2],
  result: GuardedResult,
): Promise<GuardedResult> {
  try {
    await gate.recordOutcome(id, action, outcome);
  } catch {
    // Nothing leaves unrecorded: the call ran, but its result is withheld from the agent.
    return { status: "error", message: `the result of \`${name}\` was withheld: the audit log could not record it` };
  }
  return result;
}

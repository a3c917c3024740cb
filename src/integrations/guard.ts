import type { Action, AuditSink, Check, Decision, DecisionCode } from "../core/index.js";
import { createMemoryAuditLog } from "../audit/index.js";
import type { Approvals } from "../approvals/index.js";
import { dryRunModeCheck, type DryRunMode } from "../dryrun/index.js";
import { createGate, type Gate } from "../gate/index.js";
import { loadPolicyFile, type CompiledPolicy } from "../policy/index.js";
import { createScrubber, scrubbingAuditSink, type Scrubber, type SecretBroker, type SecretLease } from "../secrets/index.js";

/** What a tool implementation receives besides its arguments. */
export interface ToolContext {
  /** The audit id pairing this call's decision and outcome. */
  readonly actionId: string;
  readonly agent: string | undefined;
  readonly run: string | undefined;
  /**
   * The secrets bound to this tool, resolved for this call (`secrets.get("stripe_key")`); empty
   * without a broker. The values never reach the agent: everything the tool returns or throws
   * passes the scrubber.
   */
  readonly secrets: SecretLease | undefined;
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
      /** The approval request to answer (`gatehouse approvals approve ID`); retry the identical call after. */
      readonly approvalId?: string;
      /** ISO 8601; past it the request counts as denied. */
      readonly expiresAt?: string;
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
  /**
   * With approvals: await the answer to an `ask` for up to `timeoutMs`, then decide the identical
   * call again (approved: it runs once). Without it, or on timeout, the result is `pending`.
   */
  readonly waitForApproval?: { readonly timeoutMs: number };
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
  /** Turns `ask` into durable approval requests (`createApprovals`); its check runs last in the chain. */
  readonly approvals?: Approvals;
  /** Environments or runs where writes run as previews only (`dry-run-mode`). */
  readonly dryRunMode?: DryRunMode;
  /**
   * More checks (e.g. `sqlClassCheck`), run after the policy and before the dry-run mode and the
   * approvals check, in the order given.
   */
  readonly checks?: readonly Check[];
  /**
   * Brokers the secrets declared in the policy's `secrets:` section: each tool gets only the
   * secrets bound to it, at execution time, and its scrubber cleans every result, error, message
   * and audit record. Without a broker, outputs and records still pass the vendor-pattern scrubber.
   */
  readonly secrets?: SecretBroker;
}

/** What the guarded tools share besides the gate. */
interface GuardRuntime {
  readonly approvals: Approvals | undefined;
  readonly secrets: SecretBroker | undefined;
  readonly scrubber: Scrubber;
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
  const scrubber = options.secrets?.scrubber ?? createScrubber();
  // The audit redaction hook: nothing reaches the store before the scrubber has passed over it.
  const audit = scrubbingAuditSink(options.audit ?? createMemoryAuditLog(), scrubber);
  // The chain's order: the policy (inside the gate), the caller's checks, dry-run mode, approvals
  // last, so an approval is only ever asked for a call every other check would let through.
  const checks = [
    ...(options.checks ?? []),
    ...(options.dryRunMode ? [dryRunModeCheck(options.dryRunMode)] : []),
    ...(options.approvals ? [options.approvals.check] : []),
  ];
  const gate = createGate({ policy, audit, checks, ...(options.clock ? { clock: options.clock } : {}) });
  const runtime: GuardRuntime = { approvals: options.approvals, secrets: options.secrets, scrubber };
  return {
    policy,
    gate,
    audit,
    decide: async (action) => (await gate.decide(action)).decision,
    guard: (tools, guardOptions = {}) => guardTools(gate, tools, guardOptions, runtime),
  };
}

/** Wraps each tool of `tools` behind `gate`. */
export function guardTools<T extends Record<string, ToolFunction | ToolDefinition>>(
  gate: Gate,
  tools: T,
  options: GuardOptions = {},
  runtime: GuardRuntime = { approvals: undefined, secrets: undefined, scrubber: createScrubber() },
): GuardedTools<T> {
  const { approvals } = runtime;
  const guarded: Record<string, (args: unknown) => Promise<GuardedResult>> = {};
  const { waitForApproval, ...who } = options;
  for (const [name, tool] of Object.entries(tools)) {
    const definition: ToolDefinition = typeof tool === "function" ? { run: tool } : tool;
    guarded[name] = async (args: unknown) => {
      const first = await callGuarded(gate, runtime, name, definition, args, who);
      if (first.status !== "pending" || first.approvalId === undefined || !waitForApproval || !approvals) return first;
      let answered;
      try {
        answered = await approvals.wait(first.approvalId, { timeoutMs: waitForApproval.timeoutMs });
      } catch {
        return first; // the wait failed: nothing ran, the request stands
      }
      if (answered.status === "pending") {
        return { ...first, message: `${first.message} No answer within ${waitForApproval.timeoutMs} ms; retry the identical call after it is approved (request ${first.approvalId}).` };
      }
      // Decide the identical call again: approved → runs once; denied or expired → refused.
      return callGuarded(gate, runtime, name, definition, args, who);
    };
  }
  return guarded as GuardedTools<T>;
}

async function callGuarded(
  gate: Gate,
  runtime: GuardRuntime,
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
  const call: Call = { gate, runtime, id, action, name, tool, decision };
  // Deny reasons and messages can quote the agent's own arguments: they pass the scrubber too.
  const reason = runtime.scrubber.scrubText(decision.reasons.join("; "));
  switch (decision.verdict) {
    case "deny":
      return { status: "denied", code: decision.code, message: `Gatehouse denied \`${name}\`: ${reason}`, rules: decision.rules };
    case "ask":
      return {
        status: "pending",
        code: decision.code,
        message: `\`${name}\` needs approval from ${decision.approvers ?? 1} approver(s) before it can run: ${reason}. It has not run.${
          decision.approval ? ` Approval request: ${decision.approval.id} (expires ${decision.approval.expiresAt}); retry the identical call once it is approved.` : ""
        }`,
        approvers: decision.approvers ?? 1,
        rules: decision.rules,
        actionId: id,
        ...(decision.approval ? { approvalId: decision.approval.id, expiresAt: decision.approval.expiresAt } : {}),
      };
    case "dry-run":
      return execute(call, "dry-run", reason);
    case "allow":
      return execute(call, "run", reason);
    default:
      // A check from outside this package answered with something that is not a verdict.
      return { status: "denied", code: "gate-error", message: `Gatehouse denied \`${name}\`: the gate gave no valid verdict`, rules: decision.rules };
  }
}

/** One decided call on its way to execution. */
interface Call {
  readonly gate: Gate;
  readonly runtime: GuardRuntime;
  readonly id: string;
  readonly action: Action;
  readonly name: string;
  readonly tool: ToolDefinition;
  readonly decision: Decision;
}

/**
 * Runs the tool (or its preview) with the arguments as checked and its secrets, scrubs what comes
 * back, and records the outcome before the agent sees anything.
 */
async function execute(call: Call, mode: "run" | "dry-run", reason: string): Promise<GuardedResult> {
  const { runtime, name, tool, decision } = call;
  const implementation = mode === "run" ? tool.run : tool.dryRun;
  if (!implementation) {
    return withRecordedOutcome(call, { status: "dry-run" }, {
      status: "dry-run",
      message: `\`${name}\` was not run: the gate asked for a dry run (${reason}) and the tool has no preview.`,
      rules: decision.rules,
    });
  }
  let secrets: SecretLease | undefined;
  if (runtime.secrets) {
    try {
      secrets = await runtime.secrets.secretsForTool(name, {
        ...(decision.agent === undefined ? {} : { agent: decision.agent }),
        ...(call.action.run === undefined ? {} : { run: call.action.run }),
      });
    } catch (error) {
      // Fail closed: no tool runs without its secrets, or with a stale one.
      const message = runtime.scrubber.scrubText(errorText(error));
      return withRecordedOutcome(call, { status: "error", error: message }, {
        status: "denied",
        code: "secret-unavailable",
        message: `Gatehouse denied \`${name}\`: ${message}`,
        rules: [],
      });
    }
  }
  const context: ToolContext = { actionId: call.id, agent: decision.agent ?? call.action.agent, run: call.action.run, secrets };
  const started = performance.now();
  try {
    const raw: unknown = await (implementation as (a: unknown, c: ToolContext) => unknown)(decision.args, context);
    const value = runtime.scrubber.scrubValue(raw);
    const durationMs = performance.now() - started;
    if (mode === "run") return withRecordedOutcome(call, { status: "ok", result: value, durationMs }, { status: "ok", value });
    return withRecordedOutcome(call, { status: "dry-run", result: value, durationMs }, {
      status: "dry-run",
      message: `\`${name}\` ran as a dry run only; nothing was changed (${reason}).`,
      preview: value,
      rules: decision.rules,
    });
  } catch (error) {
    const message = runtime.scrubber.scrubText(errorText(error));
    const what = mode === "run" ? `\`${name}\` failed` : `the dry run of \`${name}\` failed`;
    return withRecordedOutcome(call, { status: "error", error: message, durationMs: performance.now() - started }, {
      status: "error",
      message: `${what}: ${message}`,
    });
  }
}

async function withRecordedOutcome(
  call: Call,
  outcome: Parameters<Gate["recordOutcome"]>[2],
  result: GuardedResult,
): Promise<GuardedResult> {
  try {
    await call.gate.recordOutcome(call.id, call.action, outcome);
  } catch {
    // Nothing leaves unrecorded: the call ran, but its result is withheld from the agent.
    return { status: "error", message: `the result of \`${call.name}\` was withheld: the audit log could not record it` };
  }
  return result;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

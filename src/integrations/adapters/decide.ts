import type { Action, AuditOutcome, Decision } from "../../core/index.js";
import type { Gate } from "../../gate/index.js";
import { createScrubber, type Scrubber } from "../../secrets/index.js";

/** Who acts, for every call made through one set of adapted tools. */
export interface AdapterOptions {
  readonly agent?: string;
  readonly run?: string;
  readonly principal?: string;
  /** The user's request for this run, when known. */
  readonly request?: string;
  /**
   * Cleans results and error messages before the model (and the audit log) sees them; default the
   * vendor-pattern scrubber, as `guard()` without a secrets broker. Pass the broker's scrubber to
   * cover declared secrets too.
   */
  readonly scrubber?: Scrubber;
}

let vendorScrubber: Scrubber | undefined;

/** Who acts, as an action names it (the options without the scrubber). */
export function whoOf(options: AdapterOptions): Pick<Action, "agent" | "run" | "principal" | "request"> {
  const { agent, run, principal, request } = options;
  return { ...(agent === undefined ? {} : { agent }), ...(run === undefined ? {} : { run }), ...(principal === undefined ? {} : { principal }), ...(request === undefined ? {} : { request }) };
}

/** The scrubber an adapter uses: the caller's, else one vendor-pattern scrubber for the process. */
export function scrubberOf(options: AdapterOptions): Scrubber {
  return options.scrubber ?? (vendorScrubber ??= createScrubber());
}

/**
 * What an adapted tool hands the model instead of running: a refusal it can read and act on.
 * `status` says why; `approvalId` names the Gatehouse approval request a person answers.
 */
export interface GatehouseRefusal {
  readonly gatehouse: "denied" | "pending" | "dry-run" | "error";
  readonly tool: string;
  readonly message: string;
  readonly code?: string;
  readonly approvalId?: string;
}

/** A decided call: its audit id, the decision, and the action as the gate resolved it. */
export interface DecidedCall {
  readonly id: string;
  readonly decision: Decision;
  readonly action: Action;
}

/** Decides one call; never throws (the gate fails closed). */
export async function decideCall(gate: Gate, tool: string, args: unknown, options: AdapterOptions): Promise<DecidedCall> {
  const requested: Action = { ...whoOf(options), tool, args };
  const { id, decision } = await gate.decide(requested);
  return {
    id,
    decision,
    action: {
      ...requested,
      ...(decision.agent === undefined ? {} : { agent: decision.agent }),
      ...(decision.environment === undefined ? {} : { environment: decision.environment as Action["environment"] }),
    },
  };
}

/** The refusal the model reads for a decision that is not `allow`. */
export function refusalFor(tool: string, decision: Decision): GatehouseRefusal {
  const reason = decision.reasons.join("; ") || decision.code;
  switch (decision.verdict) {
    case "ask":
      return {
        gatehouse: "pending",
        tool,
        code: decision.code,
        message: decision.approval
          ? `\`${tool}\` has not run: it awaits approval (request ${decision.approval.id}, until ${decision.approval.expiresAt}): ${reason}. Retry the identical call once a person approves it.`
          : `\`${tool}\` has not run: it needs a person's approval: ${reason}`,
        ...(decision.approval ? { approvalId: decision.approval.id } : {}),
      };
    case "dry-run":
      return { gatehouse: "dry-run", tool, code: decision.code, message: `\`${tool}\` was not run: the policy allows only a dry run (${reason})` };
    case "deny":
    case "allow":
    default:
      return { gatehouse: "denied", tool, code: decision.code, message: `Gatehouse denied \`${tool}\`: ${reason}` };
  }
}

/**
 * Runs an allowed call with the arguments as checked and records its outcome. A result the
 * audit log cannot record is withheld (nothing leaves unrecorded); a tool error is recorded and
 * rethrown for the SDK to report as it does.
 */
export async function runAllowed<T>(gate: Gate, call: DecidedCall, run: (args: unknown) => Promise<T> | T, options: AdapterOptions = {}): Promise<T | GatehouseRefusal> {
  const scrubber = scrubberOf(options);
  const started = performance.now();
  let value: T;
  try {
    value = await run(call.decision.args ?? call.action.args);
  } catch (error) {
    const outcome: AuditOutcome = { status: "error", error: scrubber.scrubText(error instanceof Error ? error.message : String(error)), durationMs: performance.now() - started };
    await gate.recordOutcome(call.id, call.action, outcome).catch(() => undefined);
    throw error;
  }
  try {
    // What the tool returned reaches the model (and the record) only after the scrubber.
    value = scrubber.scrubValue(value) as T;
  } catch {
    return { gatehouse: "error", tool: call.action.tool, message: `the result of \`${call.action.tool}\` was withheld: it could not be scrubbed of secrets` };
  }
  try {
    await gate.recordOutcome(call.id, call.action, { status: "ok", result: value, durationMs: performance.now() - started });
  } catch {
    return { gatehouse: "error", tool: call.action.tool, message: `the result of \`${call.action.tool}\` was withheld: the audit log could not record it` };
  }
  return value;
}

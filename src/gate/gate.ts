import { randomUUID } from "node:crypto";
import type { Action, AuditOutcome, AuditSink, Decision } from "../core/index.js";
import { denyDecision } from "../core/index.js";
import type { CompiledPolicy } from "../policy/index.js";
import type { Check } from "./check.js";
import { policyCheck } from "./policy-check.js";

/** A decision with the id that pairs it with its outcome in the audit log. */
export interface GateDecision {
  readonly id: string;
  readonly decision: Decision;
}

/** The one place anything is decided. Every entry point builds an Action and asks it. */
export interface Gate {
  readonly policy: CompiledPolicy;
  /** Decides an action and records the decision; never throws, never allows on an error. */
  decide(action: Action): Promise<GateDecision>;
  /**
   * Records what happened when an allowed (or dry-run) call ran. Rejects when the record cannot be
   * stored; callers must then withhold the result (nothing leaves unrecorded).
   */
  recordOutcome(id: string, action: Action, outcome: AuditOutcome): Promise<void>;
}

export interface GateOptions {
  readonly policy: CompiledPolicy;
  readonly audit: AuditSink;
  /** Checks that run after the policy check, in order (limits, provenance, approvals). */
  readonly checks?: readonly Check[];
  readonly clock?: () => Date;
  readonly newId?: () => string;
}

/**
 * Builds the Gate. The chain, in its fixed order: the policy check, then `checks` in the order
 * given. A check that throws, a chain that ends without a decision, or an audit log that cannot
 * record the decision: each ends in `deny`, with the reason in the decision (fail closed).
 *
 * @example
 * const gate = createGate({ policy, audit: createMemoryAuditLog() });
 * const { decision } = await gate.decide({ tool: "get_order", args: { order_id: "ord_1" } });
 */
export function createGate(options: GateOptions): Gate {
  const { policy, audit } = options;
  const clock = options.clock ?? (() => new Date());
  const newId = options.newId ?? randomUUID;
  const chain: readonly Check[] = [policyCheck(policy), ...(options.checks ?? [])];

  async function runChain(action: Action): Promise<Decision> {
    let current: Decision | undefined;
    for (const check of chain) {
      const outcome = await check(action, current ? { decision: current } : {});
      if (!outcome.next) return outcome.decision;
      if (outcome.decision) current = outcome.decision;
    }
    return current ?? denyDecision("gate-error", "no check reached a decision");
  }

  return {
    policy,
    async decide(action) {
      const id = newId();
      let decision: Decision;
      try {
        decision = await runChain(action);
      } catch (error) {
        decision = denyDecision("gate-error", `the gate failed while deciding: ${errorMessage(error)}`, {
          policyDigest: policy.digest,
        });
      }
      try {
        await audit.append({
          type: "decision",
          time: clock().toISOString(),
          action: id,
          tool: typeof action.tool === "string" ? action.tool : String(action.tool),
          args: decision.args ?? action.args,
          ...actionFields(action, decision),
          decision: {
            verdict: decision.verdict,
            code: decision.code,
            rules: decision.rules,
            reasons: decision.reasons,
            ...(decision.risk ? { risk: decision.risk } : {}),
            ...(decision.approvers ? { approvers: decision.approvers } : {}),
          },
          // The approval request an ask opened, or the approval or grant an allow used.
          ...(decision.approval ? { approvals: [decision.approval.id] } : {}),
        });
      } catch (error) {
        decision = denyDecision("audit-unavailable", `the audit log cannot record this decision: ${errorMessage(error)}`, {
          policyDigest: policy.digest,
        });
      }
      return { id, decision };
    },
    async recordOutcome(id, action, outcome) {
      await audit.append({
        type: "outcome",
        time: clock().toISOString(),
        action: id,
        tool: action.tool,
        ...actionFields(action, undefined),
        outcome,
      });
    },
  };
}

function actionFields(action: Action, decision: Decision | undefined) {
  const agent = decision?.agent ?? action.agent;
  const environment = decision?.environment ?? action.environment;
  return {
    ...(agent === undefined ? {} : { agent }),
    ...(action.run === undefined ? {} : { run: action.run }),
    ...(action.principal === undefined ? {} : { principal: action.principal }),
    ...(environment === undefined ? {} : { environment }),
  };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

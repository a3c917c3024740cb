import { randomUUID } from "node:crypto";
import type { AuditEvent, AuditSink, DecisionCode } from "../core/index.js";
import type { EgressDecision } from "./decide.js";
import type { EgressErrorCode } from "./errors.js";

/** What the proxy records once a request or tunnel ends. */
export interface EgressOutcome {
  readonly status: "ok" | "error";
  /** The address actually dialled. */
  readonly address?: string;
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly durationMs: number;
  readonly httpStatus?: number;
  readonly error?: { readonly code: EgressErrorCode | "egress-upstream-closed"; readonly message: string };
}

/** Which entry point produced an audit event. */
export type EgressTool = "egress.connect" | "egress.http" | "egress.intercepted";

function coreCode(decision: EgressDecision): DecisionCode {
  if (decision.allow) return decision.wouldDeny ? "allowed-by-default" : "allowed-by-rule";
  switch (decision.code) {
    case "egress-auth-required":
      return "agent-required";
    case "egress-auth-invalid":
      return "agent-unknown";
    case "egress-check-error":
      return "gate-error";
    case "egress-audit-unavailable":
      return "audit-unavailable";
    case "egress-not-allowed":
      return "denied-by-default";
    case "egress-bad-request":
    case "egress-host-invalid":
    case "egress-port-invalid":
    case "egress-address-forbidden":
    case "egress-resolve-failed":
    case "egress-budget-exceeded":
    case "egress-connect-failed":
    case "egress-connect-timeout":
    case "egress-idle-timeout":
    case "egress-total-timeout":
    case "egress-headers-too-large":
    case "egress-credential-unavailable":
    case "egress-credential-needs-tls":
    case "egress-misdirected":
    case "egress-upstream-tls":
    case "egress-config-invalid":
    case "egress-ca-failed":
    case "egress-listen-failed":
      return "denied-by-rule";
  }
}

/**
 * Writes the egress proxy's audit events: one `decision` per request or tunnel (with the
 * resolved addresses and their classes), and one `outcome` when it ends (address dialled, bytes
 * each way, duration). The decision append is awaited before any byte goes out: if the audit
 * sink cannot store it, the proxy refuses (`egress-audit-unavailable`).
 */
export class EgressRecorder {
  constructor(
    private readonly sink: AuditSink,
    private readonly now: () => number,
  ) {}

  /** Records a decision and returns the action id that pairs it with its outcome. */
  async decision(tool: EgressTool, decision: EgressDecision, request: { method?: string; path?: string; authority: string }): Promise<string> {
    const action = randomUUID();
    const target = decision.target;
    const args = {
      authority: request.authority.slice(0, 300),
      ...(request.method ? { method: request.method } : {}),
      ...(request.path ? { path: request.path.slice(0, 2048) } : {}),
      ...(target ? { host: target.hostText, port: target.port } : {}),
      ...(decision.addresses ? { addresses: decision.addresses.map((a) => ({ address: a.address, class: a.class, metric: a.metric })) } : {}),
      ...(decision.allow ? { profile: decision.profile, ...(decision.credential ? { credential: { header: decision.credential.header, secret: decision.credential.secret } } : {}) } : { code: decision.code }),
    };
    const reasons = decision.allow
      ? [decision.wouldDeny ? `report mode, enforce would refuse: ${decision.wouldDeny}` : `allowed by rule \`${decision.rule?.id ?? "?"}\``]
      : [`${decision.code}: ${decision.reason}`];
    const event: AuditEvent = {
      type: "decision",
      time: new Date(this.now()).toISOString(),
      action,
      tool,
      ...(decision.identity ? { agent: decision.identity.agent, run: decision.identity.run } : {}),
      args,
      decision: {
        verdict: decision.allow ? "allow" : "deny",
        code: coreCode(decision),
        rules: decision.allow ? (decision.rule ? [decision.rule.id] : []) : [decision.rule],
        reasons,
      },
    };
    await this.sink.append(event);
    return action;
  }

  /** Records how a request or tunnel ended. */
  async outcome(tool: EgressTool, action: string, decision: EgressDecision, outcome: EgressOutcome): Promise<void> {
    const event: AuditEvent = {
      type: "outcome",
      time: new Date(this.now()).toISOString(),
      action,
      tool,
      ...(decision.identity ? { agent: decision.identity.agent, run: decision.identity.run } : {}),
      ...(decision.target ? { args: { host: decision.target.hostText, port: decision.target.port } } : {}),
      outcome: {
        status: outcome.status,
        durationMs: outcome.durationMs,
        result: {
          ...(outcome.address ? { address: outcome.address } : {}),
          bytesUp: outcome.bytesUp,
          bytesDown: outcome.bytesDown,
          ...(outcome.httpStatus !== undefined ? { httpStatus: outcome.httpStatus } : {}),
        },
        ...(outcome.error ? { error: `${outcome.error.code}: ${outcome.error.message}` } : {}),
      },
    };
    await this.sink.append(event);
  }
}

import type { StoredApprovalRequest, StoredApprovalStatus, StoredGrant } from "../store/index.js";

/** A request's status at the time it was read: a pending or approved request past its expiry is `expired`. */
export type ApprovalStatus = StoredApprovalStatus;

/** One answer, as shown to people. */
export interface ApprovalAnswer {
  readonly approver: string;
  readonly verdict: "approve" | "deny";
  readonly reason?: string;
  readonly at: string;
}

/** An approval request as the inbox, CLI, API and webhook show it. */
export interface ApprovalRequest {
  readonly id: string;
  readonly status: ApprovalStatus;
  readonly agent: string;
  readonly principal?: string;
  readonly run?: string;
  /** The user's request for this run, when known. */
  readonly request?: string;
  readonly environment?: string;
  readonly tool: string;
  /** The arguments exactly as the call will run them. */
  readonly args: unknown;
  readonly risk?: string;
  /** The rules that asked. */
  readonly rules: readonly string[];
  /** Why it was asked. */
  readonly reasons: readonly string[];
  /** Distinct approvers needed, and how many have approved. */
  readonly required: number;
  readonly approvals: number;
  readonly answers: readonly ApprovalAnswer[];
  /** The tool's dry-run preview, when it has one. */
  readonly preview?: unknown;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly decidedAt?: string;
  readonly usedAt?: string;
  /** The action digest the request is bound to, and the policy that asked. */
  readonly digest: string;
  readonly policyDigest: string;
}

/** A standing, scoped, expiring approval, as shown to people. */
export interface Grant {
  readonly id: string;
  readonly requestId: string;
  readonly tool: string;
  readonly agent: string;
  /** The argument schema calls must match; absent means the exact arguments of the request. */
  readonly args?: unknown;
  readonly approvals: number;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly maxUses?: number;
  readonly uses: number;
  readonly revokedAt?: string;
  readonly revokedBy?: string;
  readonly active: boolean;
}

/** Tells people about a new request (webhook, chat, e-mail…). */
export interface Notifier {
  readonly name: string;
  /** Rejects when the notification could not be delivered. */
  notify(request: ApprovalRequest): Promise<void>;
}

/** Converts a stored request to the shown form at `nowMs`. */
export function toApprovalRequest(r: StoredApprovalRequest, nowMs: number): ApprovalRequest {
  const status: ApprovalStatus = (r.status === "pending" || r.status === "approved") && r.expiresMs <= nowMs ? "expired" : r.status;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: r.id,
    status,
    agent: r.agent,
    ...(r.principal === undefined ? {} : { principal: r.principal }),
    ...(r.run === undefined ? {} : { run: r.run }),
    ...(r.request === undefined ? {} : { request: r.request }),
    ...(r.environment === undefined ? {} : { environment: r.environment }),
    tool: r.tool,
    args: r.args,
    ...(r.risk === undefined ? {} : { risk: r.risk }),
    rules: r.rules,
    reasons: r.reasons,
    required: r.required,
    approvals: r.answers.filter((a) => a.verdict === "approve").length,
    answers: r.answers.map((a) => ({ approver: a.approver, verdict: a.verdict, ...(a.reason === undefined ? {} : { reason: a.reason }), at: iso(a.atMs) })),
    ...(r.preview === undefined ? {} : { preview: r.preview }),
    createdAt: iso(r.createdMs),
    expiresAt: iso(r.expiresMs),
    ...(r.decidedMs === undefined ? {} : { decidedAt: iso(r.decidedMs) }),
    ...(r.usedMs === undefined ? {} : { usedAt: iso(r.usedMs) }),
    digest: r.digest,
    policyDigest: r.policyDigest,
  };
}

/** Converts a stored grant to the shown form at `nowMs`. */
export function toGrant(g: StoredGrant, nowMs: number): Grant {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: g.id,
    requestId: g.requestId,
    tool: g.tool,
    agent: g.agent,
    ...(g.args === undefined ? {} : { args: g.args }),
    approvals: g.approvals,
    createdBy: g.createdBy,
    createdAt: iso(g.createdMs),
    expiresAt: iso(g.expiresMs),
    ...(g.maxUses === undefined ? {} : { maxUses: g.maxUses }),
    uses: g.uses,
    ...(g.revokedMs === undefined ? {} : { revokedAt: iso(g.revokedMs) }),
    ...(g.revokedBy === undefined ? {} : { revokedBy: g.revokedBy }),
    active: g.revokedMs === undefined && g.expiresMs > nowMs && (g.maxUses === undefined || g.uses < g.maxUses),
  };
}

import type { Decision } from "./decision.js";

/**
 * One entry of the audit trail. The Gate appends a `decision` event for every action it decides
 * and an `outcome` event for every call that ran (or ran as a dry run). Both carry the same
 * `action` id so a reader can pair them. The approvals module appends `approval` events.
 *
 * Arguments and results are stored only after the redaction hook has passed over them.
 */
export interface AuditEvent {
  readonly type: "decision" | "outcome" | "approval";
  /** ISO 8601 time the event was produced. */
  readonly time: string;
  /** Pairs a decision with its outcome. */
  readonly action: string;
  readonly agent?: string;
  readonly run?: string;
  readonly principal?: string;
  readonly environment?: string;
  readonly tool: string;
  readonly args?: unknown;
  readonly decision?: Pick<Decision, "verdict" | "code" | "rules" | "reasons" | "risk" | "approvers">;
  readonly outcome?: AuditOutcome;
  /** The model that drove the run, when the caller knows it. */
  readonly model?: AuditModel;
  /** SHA-256 (hex) of the context the model was given, when the caller supplies it. */
  readonly contextHash?: string;
  /** What the call cost, when known. */
  readonly cost?: AuditCost;
  /** Ids of the approvals or grants that allowed this call. */
  readonly approvals?: readonly string[];
  /** Digest of the policy that decided. */
  readonly policyDigest?: string;
  /** With type `approval`: a step of an approval request or grant (who did what, when). */
  readonly approval?: AuditApproval;
}

/**
 * One step of the approvals workflow, as the audit log keeps it. `action` of the event holds the
 * request id (or the grant id for grant steps), so every step of one request can be found.
 */
export interface AuditApproval {
  readonly step: "requested" | "answered" | "answer-refused" | "approved" | "denied" | "granted" | "revoked";
  /** The approval request (or, for `granted`/`revoked`, the grant). */
  readonly id: string;
  /** The approver identity who answered, granted or revoked. */
  readonly by?: string;
  readonly verdict?: "approve" | "deny";
  readonly reason?: string;
  /** With `granted`: the grant's scope. */
  readonly grant?: { readonly requestId: string; readonly expiresAt: string; readonly maxUses?: number; readonly args?: unknown };
}

/** The model behind a run, as the caller names it. */
export interface AuditModel {
  readonly name: string;
  readonly version?: string;
}

/** Tokens and money a call used; every field optional because providers report different things. */
export interface AuditCost {
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  /** Money spent, in `currency` units (not cents). */
  readonly amount?: number;
  /** ISO 4217 code, e.g. `USD`. */
  readonly currency?: string;
}

/** What happened when a call ran. */
export interface AuditOutcome {
  readonly status: "ok" | "error" | "dry-run";
  readonly result?: unknown;
  readonly error?: string;
  readonly durationMs?: number;
}

/**
 * Where the Gate writes its audit trail (a port: the in-memory recorder and the durable log
 * implement it). `append` resolves only once the event is stored; a rejection makes the Gate deny.
 */
export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
}

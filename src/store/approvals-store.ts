/**
 * The approvals port: where approval requests, answers and grants live. Two implementations
 * (SQLite, PostgreSQL) pass one contract suite (test/approvals-store.test.ts).
 *
 * Times are milliseconds since the epoch. Every method that changes state does so in one
 * transaction: a failure leaves nothing half-written.
 */

/** A request's stored state; `expired` is set lazily (see `closeExpired`). */
export type StoredApprovalStatus = "pending" | "approved" | "denied" | "expired" | "used";

/** One approver's answer. */
export interface StoredAnswer {
  readonly approver: string;
  readonly verdict: "approve" | "deny";
  readonly reason?: string;
  readonly atMs: number;
}

/** What a new request holds: the exact action it is bound to and what the approver is shown. */
export interface NewApprovalRequest {
  readonly id: string;
  /** `actionDigest` of agent, tool, canonical arguments and policy digest. */
  readonly digest: string;
  readonly agent: string;
  readonly principal?: string;
  readonly run?: string;
  /** The user's request for this run, when known. */
  readonly request?: string;
  readonly environment?: string;
  readonly tool: string;
  readonly args: unknown;
  readonly risk?: string;
  readonly rules: readonly string[];
  readonly reasons: readonly string[];
  /** Distinct approvers needed. */
  readonly required: number;
  readonly policyDigest: string;
  readonly preview?: unknown;
  readonly createdMs: number;
  readonly expiresMs: number;
}

/** A request as stored, with its answers (oldest first). */
export interface StoredApprovalRequest extends NewApprovalRequest {
  readonly status: StoredApprovalStatus;
  readonly decidedMs?: number;
  readonly usedMs?: number;
  /** A denial or expiry was shown to the agent once; the next identical call opens a fresh request. */
  readonly reported: boolean;
  readonly answers: readonly StoredAnswer[];
}

/** A standing, scoped, expiring approval. `args` is an argument schema (JSON) or absent. */
export interface NewGrant {
  readonly id: string;
  readonly requestId: string;
  readonly tool: string;
  readonly agent: string;
  readonly policyDigest: string;
  readonly args?: unknown;
  /** How many approvers approved the request the grant came from; it covers asks needing at most this many. */
  readonly approvals: number;
  readonly createdBy: string;
  readonly createdMs: number;
  readonly expiresMs: number;
  readonly maxUses?: number;
}

export interface StoredGrant extends NewGrant {
  readonly uses: number;
  readonly revokedMs?: number;
  readonly revokedBy?: string;
}

/** What recording an answer came to. Only `ok` changed anything. */
export type AnswerResult =
  | { readonly kind: "ok"; readonly request: StoredApprovalRequest; readonly grant?: StoredGrant }
  | { readonly kind: "not-found" }
  | { readonly kind: "not-pending"; readonly request: StoredApprovalRequest }
  | { readonly kind: "expired"; readonly request: StoredApprovalRequest }
  | { readonly kind: "already-answered"; readonly request: StoredApprovalRequest };

/** An answer to record; `grant` is created only if this answer completes the approval. */
export interface NewAnswer {
  readonly id: string;
  readonly approver: string;
  readonly verdict: "approve" | "deny";
  readonly reason?: string;
  readonly atMs: number;
  readonly grant?: Omit<NewGrant, "approvals" | "requestId" | "tool" | "agent" | "policyDigest" | "createdBy" | "createdMs">;
}

/** Storage for approval requests and grants. */
export interface ApprovalStore {
  /** Inserts `request`, unless a pending one for the same digest exists: then returns that one. */
  openRequest(request: NewApprovalRequest): Promise<{ readonly request: StoredApprovalRequest; readonly created: boolean }>;
  get(id: string): Promise<StoredApprovalRequest | undefined>;
  /** The newest request for an action digest. */
  latestForDigest(digest: string): Promise<StoredApprovalRequest | undefined>;
  /** Requests, newest first; `status` filters on the effective status at `nowMs` (pending past expiry is expired). */
  list(filter: { readonly status?: StoredApprovalStatus; readonly nowMs: number; readonly limit?: number }): Promise<StoredApprovalRequest[]>;
  /** Records one answer atomically and moves the request to approved/denied when it decides it. */
  answer(answer: NewAnswer): Promise<AnswerResult>;
  /** Marks an approved, unexpired request used. True for exactly one caller (single use). */
  consume(id: string, nowMs: number): Promise<boolean>;
  /**
   * Marks a denied or expired request (pending/approved past `nowMs` count as expired) as shown to
   * the agent. True for exactly one caller.
   */
  closeReported(id: string, nowMs: number): Promise<boolean>;
  /** Unrevoked, unexpired grants with uses left for this tool, agent and policy. */
  activeGrants(query: { readonly tool: string; readonly agent: string; readonly policyDigest: string; readonly nowMs: number }): Promise<StoredGrant[]>;
  /** Uses one use of a grant if it is still active. True when the use was taken. */
  useGrant(id: string, nowMs: number): Promise<boolean>;
  getGrant(id: string): Promise<StoredGrant | undefined>;
  listGrants(filter: { readonly activeAtMs?: number }): Promise<StoredGrant[]>;
  /** Revokes an unrevoked grant. False when it was already revoked or does not exist. */
  revokeGrant(id: string, by: string, atMs: number): Promise<boolean>;
  close(): Promise<void>;
}

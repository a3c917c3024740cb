/**
 * Stable names for what can go wrong while answering, granting or revoking (append-only;
 * documented in docs/approvals.md `## Error codes`).
 */
export const APPROVAL_ERROR_CODES = [
  "request-unknown",
  "request-closed",
  "request-expired",
  "already-answered",
  "self-approval",
  "approver-unknown",
  "approver-not-allowed",
  "answer-invalid",
  "grant-invalid",
  "grant-unknown",
  "grant-revoked",
  "store-unavailable",
  "audit-unavailable",
  "link-invalid",
  "link-expired",
  "link-key-invalid",
  "config-invalid",
  "notify-failed",
] as const;

export type ApprovalErrorCode = (typeof APPROVAL_ERROR_CODES)[number];

/** An approvals operation that was refused or could not be done; `code` says which. Nothing changed unless said. */
export class ApprovalError extends Error {
  readonly code: ApprovalErrorCode;

  constructor(code: ApprovalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ApprovalError";
    this.code = code;
  }
}

import type { StoreError } from "../store/index.js";

/**
 * Stable names for audit-log failures (append-only; documented in docs/audit.md).
 *
 * INVARIANT: codes are never reused or renamed.
 */
export const AUDIT_ERROR_CODES = [
  "audit-event-invalid",
  "audit-redact-failed",
  "audit-closed",
  "audit-unavailable",
  "audit-disk-full",
  "audit-store-corrupt",
  "audit-store-foreign",
  "audit-store-missing",
  "audit-key-missing",
  "audit-key-invalid",
  "audit-key-mismatch",
  "audit-log-diverged",
  "audit-checkpoint-invalid",
  "audit-checkpoint-untrusted",
  "audit-checkpoint-foreign",
  "audit-proof-invalid",
  "audit-range-invalid",
  "audit-publish-failed",
  "audit-option-invalid",
  "audit-busy",
] as const;

export type AuditErrorCode = (typeof AUDIT_ERROR_CODES)[number];

/**
 * Anything the audit log refuses or cannot do. The Gate turns a rejected `append` into a deny
 * (`audit-unavailable`), so this error never lets an action through.
 */
export class AuditError extends Error {
  readonly code: AuditErrorCode;

  constructor(code: AuditErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "AuditError";
    this.code = code;
  }
}

/** Wraps a StoreError in the audit code an operator acts on (disk full, corrupt, foreign…). */
export function fromStoreError(error: StoreError): AuditError {
  switch (error.code) {
    case "store-full":
      return new AuditError("audit-disk-full", error.message, { cause: error });
    case "store-corrupt":
      return new AuditError("audit-store-corrupt", error.message, { cause: error });
    case "store-foreign":
    case "store-version":
      return new AuditError("audit-store-foreign", error.message, { cause: error });
    case "store-missing":
      return new AuditError("audit-store-missing", error.message, { cause: error });
    case "store-busy":
      return new AuditError("audit-busy", error.message, { cause: error });
    case "store-readonly":
    case "store-conflict":
    case "store-io":
      return new AuditError("audit-unavailable", error.message, { cause: error });
  }
}

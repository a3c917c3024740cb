/** Stable names for why a SQL call or its preview was refused (append-only; docs/dryrun.md). */
export const DRYRUN_ERROR_CODES = [
  "sql-empty",
  "sql-too-long",
  "sql-unparsable",
  "sql-unclassified",
  "sql-failed",
  "sql-not-read-only",
  "sql-rows-changed",
  "sql-plan-missing",
  "sql-plan-too-large",
  "sql-too-many-tables",
  "sql-query-invalid",
  "sql-args-invalid",
] as const;

export type DryRunErrorCode = (typeof DRYRUN_ERROR_CODES)[number];

/** A SQL call, preview or apply that was refused or failed; nothing was changed when it throws. */
export class DryRunError extends Error {
  readonly code: DryRunErrorCode;

  constructor(code: DryRunErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "DryRunError";
    this.code = code;
  }
}

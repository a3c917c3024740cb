/**
 * Stable names for storage failures (append-only; documented in docs/audit.md).
 *
 * INVARIANT: codes are never reused or renamed; callers (the audit log, the CLI) map them to
 * their own codes and messages.
 */
export const STORE_ERROR_CODES = [
  "store-missing",
  "store-corrupt",
  "store-foreign",
  "store-version",
  "store-full",
  "store-readonly",
  "store-busy",
  "store-conflict",
  "store-io",
] as const;

export type StoreErrorCode = (typeof STORE_ERROR_CODES)[number];

/** A store that cannot be opened, read or written. `file` names the database involved. */
export class StoreError extends Error {
  readonly code: StoreErrorCode;
  readonly file: string;

  constructor(code: StoreErrorCode, file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options);
    this.name = "StoreError";
    this.code = code;
    this.file = file;
  }
}

/**
 * Maps an error thrown by SQLite (better-sqlite3 `SqliteError`, whose `code` is the extended
 * result code name) to a StoreError with a message that says what to do.
 */
export function toStoreError(error: unknown, file: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  const detail = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  if (code === "SQLITE_FULL") {
    return new StoreError("store-full", file, `the database or disk is full (${detail}); free space or raise the size limit`, options);
  }
  if (code === "SQLITE_CORRUPT" || code.startsWith("SQLITE_CORRUPT_") || code === "SQLITE_NOTADB") {
    return new StoreError("store-corrupt", file, `the database file is damaged or is not an SQLite database (${detail})`, options);
  }
  if (code === "SQLITE_CANTOPEN") {
    return new StoreError("store-missing", file, `the database cannot be opened (${detail}); check the path and its permissions`, options);
  }
  if (code === "SQLITE_READONLY" || code.startsWith("SQLITE_READONLY_")) {
    return new StoreError("store-readonly", file, `the database is read-only (${detail}); check file permissions`, options);
  }
  if (code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY_") || code === "SQLITE_LOCKED") {
    return new StoreError("store-busy", file, `the database is locked by another process (${detail})`, options);
  }
  if (code.startsWith("SQLITE_CONSTRAINT")) {
    return new StoreError("store-conflict", file, `a write conflicted with what is stored (${detail}); is another process writing this log?`, options);
  }
  return new StoreError("store-io", file, `the database cannot be read or written (${detail})`, options);
}

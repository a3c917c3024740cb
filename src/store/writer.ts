/**
 * The store folder's narrow face, for the audit log's writer: the audit store port, its SQLite
 * implementation and the store errors, without the approvals stores and the PostgreSQL stores
 * that `index.ts` also offers (loaded at every `gatehouse run` otherwise). `index.ts` re-exports
 * everything here; other folders use one face or the other, nothing else.
 */
export { openSqliteAuditStore, AUDIT_APPLICATION_ID, AUDIT_SCHEMA_VERSION } from "./sqlite-audit-store.js";
export type { SqliteAuditStoreOptions } from "./sqlite-audit-store.js";
export type {
  AuditStore,
  NewAuditRecord,
  StoredAuditRecord,
  StoredCheckpoint,
  StoredLeafHash,
  StoredRecordBytes,
  StoreAppend,
  StoreChanges,
} from "./audit-store.js";
export { StoreError, STORE_ERROR_CODES, toStoreError } from "./errors.js";
export type { StoreErrorCode } from "./errors.js";

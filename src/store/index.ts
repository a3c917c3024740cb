export { openSqliteAuditStore, AUDIT_APPLICATION_ID, AUDIT_SCHEMA_VERSION } from "./writer.js";
export type { SqliteAuditStoreOptions } from "./writer.js";
export { openPostgresAuditStore } from "./postgres-audit-store.js";
export type { PostgresAuditStoreOptions } from "./postgres-audit-store.js";
export type {
  AuditStore,
  NewAuditRecord,
  StoredAuditRecord,
  StoredCheckpoint,
  StoredLeafHash,
  StoredRecordBytes,
  StoreAppend,
  StoreChanges,
} from "./writer.js";
export { StoreError, STORE_ERROR_CODES, toStoreError } from "./writer.js";
export type { StoreErrorCode } from "./writer.js";
export { openSqliteApprovalStore, APPROVALS_APPLICATION_ID, APPROVALS_SCHEMA_VERSION } from "./approvals-sqlite.js";
export { openPostgresApprovalStore } from "./approvals-postgres.js";
export type { PostgresApprovalStoreOptions } from "./approvals-postgres.js";
export type {
  ApprovalStore,
  AnswerResult,
  NewAnswer,
  NewApprovalRequest,
  NewGrant,
  StoredAnswer,
  StoredApprovalRequest,
  StoredApprovalStatus,
  StoredGrant,
} from "./approvals-store.js";

/**
 * The audit folder's narrow face, for a process that only writes the durable log: open it, read
 * its signing key, find the data directory, and know its errors. `gatehouse run` opens the log at
 * every start; through this face it does not also load the verifier, exporters, tail, proofs and
 * publishers that `index.ts` offers (with store/writer.ts, a dozen of the ~60 modules it loaded).
 * `index.ts` re-exports everything here; other folders use one face or the other, nothing else.
 */
export { openAuditLog, DEFAULT_MAX_RESULT_BYTES } from "./log.js";
export type { AuditLogOptions, AuditLogStatus, DurableAuditLog } from "./log.js";
export { AuditError, AUDIT_ERROR_CODES } from "./errors.js";
export type { AuditErrorCode } from "./errors.js";
export { readSigningKeyFile } from "./keys.js";
export { defaultDataDir, AUDIT_FILES } from "./paths.js";

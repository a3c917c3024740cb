export { createMemoryAuditLog } from "./memory.js";
export type { MemoryAuditLog } from "./memory.js";
export { openAuditLog, DEFAULT_MAX_RESULT_BYTES } from "./writer.js";
export type { AuditLogOptions, AuditLogStatus, DurableAuditLog } from "./writer.js";
export { verifyAuditLog, VERIFY_PROBLEM_CODES } from "./verify.js";
export type { VerifyOptions, VerifyReport, VerifyProblem, VerifyProblemCode, ExternalCheckpoint } from "./verify.js";
export { AuditError, AUDIT_ERROR_CODES } from "./writer.js";
export type { AuditErrorCode } from "./writer.js";
export {
  generateSigningKey,
  formatSigningKey,
  formatVerifierKey,
  parseSigningKey,
  parseVerifierKey,
  noteKeyId,
  signNote,
  openNote,
} from "./note.js";
export type { NoteSigningKey, NoteVerifierKey } from "./note.js";
export { readSigningKeyFile } from "./writer.js";
export { readVerifierKeyFile, writeKeyFiles } from "./keys.js";
export { signCheckpoint, openCheckpoint, formatCheckpoint, parseCheckpointText } from "./checkpoint.js";
export type { Checkpoint } from "./checkpoint.js";
export { fileCheckpointPublisher, httpCheckpointPublisher } from "./publish.js";
export type { CheckpointPublisher, HttpPublisherOptions } from "./publish.js";
export {
  hashLeaf,
  hashLeafText,
  hashChildren,
  MerkleAccumulator,
  inclusionProofRanges,
  consistencyProofRanges,
  rootFromInclusionProof,
  verifyInclusion,
  verifyConsistency,
  EMPTY_ROOT,
} from "./merkle.js";
export { proveInclusion, proveConsistency, checkProof } from "./proof.js";
export type { InclusionProof, ConsistencyProof, AuditProof, ProofCheck } from "./proof.js";
export { exportAuditLog, parseExportTime, EXPORT_FORMATS, OCSF_VERSION } from "./export.js";
export type { ExportFormat, ExportFilter } from "./export.js";
export { tailAuditLog, formatRecord } from "./tail.js";
export type { TailOptions } from "./tail.js";
export { decodeRecord, RECORD_VERSION } from "./record.js";
export type { AuditRecord, StoredEvent, StoredOutcome, TruncatedResult, Redactor, RedactField } from "./record.js";
export { defaultDataDir, AUDIT_FILES } from "./writer.js";

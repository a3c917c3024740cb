/**
 * The storage port of the audit log. It is deliberately narrow: records and checkpoints can be
 * appended and read, never updated or deleted, so no implementation can offer a way to rewrite
 * history. SQLite implements it today; a PostgreSQL implementation can follow with the same
 * contract (every method is async for that reason).
 */
export interface AuditStore {
  /** The file or connection string, for messages. */
  readonly location: string;
  /** The log's identity (its checkpoint origin), or undefined for a store never initialised. */
  origin(): Promise<string | undefined>;
  /** Records the log's identity once; fails with `store-conflict` when one is already set. */
  setOrigin(origin: string): Promise<void>;
  /** One more than the highest sequence number stored (0 when empty). */
  nextSeq(): Promise<number>;
  /**
   * Appends records atomically: all of them are durable when the promise resolves, or none
   * is written and it rejects. Sequence numbers must be new (`store-conflict` otherwise).
   */
  appendRecords(records: readonly NewAuditRecord[]): Promise<void>;
  /** Appends a signed checkpoint (a signed note) for `size` records. */
  appendCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  /** Records with `from <= seq < to`, in sequence order, in pages of at most `pageSize`. */
  readRecords(from: number, to: number, pageSize?: number): AsyncIterable<readonly StoredAuditRecord[]>;
  /** Like readRecords, with each record as its stored UTF-8 bytes (what `verify` hashes). */
  readRecordBytes(from: number, to: number, pageSize?: number): AsyncIterable<readonly StoredRecordBytes[]>;
  /** Leaf hashes with `from <= seq < to`, in sequence order, in pages. */
  readLeafHashes(from: number, to: number, pageSize?: number): AsyncIterable<readonly StoredLeafHash[]>;
  /** Every stored checkpoint, smallest size first. */
  readCheckpoints(): Promise<readonly StoredCheckpoint[]>;
  close(): Promise<void>;
}

/** A record as the log hands it to the store. */
export interface NewAuditRecord {
  readonly seq: number;
  /** RFC 6962 leaf hash of `record` (32 bytes). */
  readonly leafHash: Uint8Array;
  /** The canonical JSON text of the record (RFC 8785). */
  readonly record: string;
}

/** A record as read back; nothing guarantees it is unchanged until `verify` says so. */
export type StoredAuditRecord = NewAuditRecord;

/** A record as read back, as bytes. */
export interface StoredRecordBytes {
  readonly seq: number;
  readonly leafHash: Uint8Array;
  /** The record's UTF-8 bytes. */
  readonly bytes: Uint8Array;
}

/** A leaf hash as read back. */
export interface StoredLeafHash {
  readonly seq: number;
  readonly leafHash: Uint8Array;
}

/** A checkpoint as stored: the signed note text for a tree of `size` records. */
export interface StoredCheckpoint {
  readonly size: number;
  readonly note: string;
  /** ISO 8601 time the checkpoint was signed. */
  readonly created: string;
}

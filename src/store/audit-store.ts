/**
 * The storage port of the audit log. It is deliberately narrow: records and checkpoints can be
 * appended and read, never updated or deleted, so no implementation can offer a way to rewrite
 * history. SQLite and PostgreSQL implement it with the same contract
 * (test/audit-store-contract.test.ts); several processes may write one log through
 * {@link AuditStore.appendLocked}.
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
   * Takes no lock and reads nothing first: the log writes through {@link appendLocked}.
   */
  appendRecords(records: readonly NewAuditRecord[]): Promise<void>;
  /** Appends a signed checkpoint (a signed note) for `size` records. */
  appendCheckpoint(checkpoint: StoredCheckpoint): Promise<void>;
  /**
   * The write path of a log that other processes may write too. Takes the store's write lock
   * (one writer at a time, across processes and connections), reads what was stored since the
   * caller's `knownSize` (see {@link StoreChanges}), calls `work` with it, and appends what `work`
   * returns (records numbered from `changes.size`, and/or a checkpoint) in the same transaction,
   * durably. If `work` throws, nothing is written and its error is rethrown unchanged. `work` is
   * synchronous: it runs while the lock is held, so keep it short.
   */
  appendLocked(knownSize: number, work: (changes: StoreChanges) => StoreAppend): Promise<void>;
  /** Records with `from <= seq < to`, in sequence order, in pages of at most `pageSize`. */
  readRecords(from: number, to: number, pageSize?: number): AsyncIterable<readonly StoredAuditRecord[]>;
  /** Like readRecords, with each record as its stored UTF-8 bytes (what `verify` hashes). */
  readRecordBytes(from: number, to: number, pageSize?: number): AsyncIterable<readonly StoredRecordBytes[]>;
  /** Leaf hashes with `from <= seq < to`, in sequence order, in pages. */
  readLeafHashes(from: number, to: number, pageSize?: number): AsyncIterable<readonly StoredLeafHash[]>;
  /**
   * Every stored checkpoint, smallest size first; with `latest`, only the one of the largest size
   * (what a writer opening the log checks against: each run adds a checkpoint, so reading them
   * all would cost every start a little more).
   */
  readCheckpoints(options?: { readonly latest?: boolean }): Promise<readonly StoredCheckpoint[]>;
  close(): Promise<void>;
}

/** What other writers stored since a writer last looked, read under the write lock. */
export interface StoreChanges {
  /** The number of records stored now (one more than the highest sequence number). */
  readonly size: number;
  /**
   * The records with `knownSize <= seq < size`, in sequence order, with their leaf hashes: the
   * writer checks each record against its hash, sequence number and chain before it builds on it.
   */
  readonly leaves: readonly (StoredLeafHash & { readonly record: string })[];
  /** Checkpoints with `size >= knownSize`, smallest size first. */
  readonly checkpoints: readonly StoredCheckpoint[];
}

/** What a writer appends under the write lock. */
export interface StoreAppend {
  /** Records numbered from `StoreChanges.size`, in order. */
  readonly records?: readonly NewAuditRecord[];
  readonly checkpoint?: StoredCheckpoint;
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

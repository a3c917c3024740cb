import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import type {
  AuditStore,
  NewAuditRecord,
  StoredAuditRecord,
  StoredCheckpoint,
  StoredLeafHash,
  StoredRecordBytes,
  StoreAppend,
  StoreChanges,
} from "./audit-store.js";
import { StoreError, toStoreError } from "./errors.js";

/** `PRAGMA application_id` of a Gatehouse audit database: the ASCII bytes "GHAU". */
export const AUDIT_APPLICATION_ID = 0x47484155;
/** Schema version (`PRAGMA user_version`); a newer file is refused rather than misread. */
export const AUDIT_SCHEMA_VERSION = 1;

/** How long a write waits for another process's write lock before failing with `store-busy`. */
const BUSY_TIMEOUT_MS = 5000;

/** Options for {@link openSqliteAuditStore}. */
export interface SqliteAuditStoreOptions {
  /** Open for reading only (verify, export, tail); never creates or changes the file. */
  readonly readonly?: boolean;
  /**
   * Refuse to grow the database past this many bytes: writes past it fail with `store-full`,
   * exactly as a full disk does. Protects a disk shared with other services.
   */
  readonly maxBytes?: number;
  /**
   * `full` (default) fsyncs the write-ahead log on every commit, so an acknowledged record
   * survives power loss. `normal` survives a process crash but may lose the last commits on
   * power loss or an OS crash.
   */
  readonly synchronous?: "full" | "normal";
}

const SCHEMA = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE records (
  seq INTEGER PRIMARY KEY CHECK (seq >= 0),
  leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32),
  record TEXT NOT NULL
) STRICT;
CREATE TABLE checkpoints (size INTEGER PRIMARY KEY CHECK (size >= 0), note TEXT NOT NULL, created TEXT NOT NULL) STRICT;
CREATE TRIGGER records_no_update BEFORE UPDATE ON records BEGIN SELECT RAISE(ABORT, 'gatehouse audit records are append-only'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records BEGIN SELECT RAISE(ABORT, 'gatehouse audit records are append-only'); END;
CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints BEGIN SELECT RAISE(ABORT, 'gatehouse audit checkpoints are append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints BEGIN SELECT RAISE(ABORT, 'gatehouse audit checkpoints are append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta BEGIN SELECT RAISE(ABORT, 'gatehouse audit metadata is append-only'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta BEGIN SELECT RAISE(ABORT, 'gatehouse audit metadata is append-only'); END;
`;

/**
 * Opens (and, unless read-only, creates) the SQLite file that holds an audit log. The file is
 * in WAL mode, with triggers that reject UPDATE and DELETE on every table, and is marked with
 * an application id so a foreign database is refused instead of being written into.
 *
 * Throws StoreError: `store-missing` (read-only and no file), `store-corrupt` (not an SQLite
 * database), `store-foreign` (another application's database), `store-version` (newer schema).
 *
 * @example
 * const store = openSqliteAuditStore("/var/lib/gatehouse/audit.db");
 */
export function openSqliteAuditStore(file: string, options: SqliteAuditStoreOptions = {}): AuditStore {
  const readonly = options.readonly ?? false;
  if (readonly && !existsSync(file)) {
    throw new StoreError("store-missing", file, "no audit database here; check --db or the data directory");
  }
  let db: Database.Database | undefined;
  try {
    if (!readonly) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    db = new Database(file, { readonly, fileMustExist: readonly });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    prepareSchema(db, file, readonly);
    if (!readonly) {
      const mode = db.pragma("journal_mode = WAL", { simple: true });
      if (mode !== "wal") throw new StoreError("store-io", file, `cannot switch the database to WAL mode (got ${String(mode)})`);
      db.pragma(`synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"}`);
      if (options.maxBytes !== undefined) {
        const pageSize = Number(db.pragma("page_size", { simple: true }));
        db.pragma(`max_page_count = ${Math.max(1, Math.floor(options.maxBytes / pageSize))}`);
      }
    }
    return new SqliteAuditStore(db, file);
  } catch (error) {
    db?.close();
    throw toStoreError(error, file);
  }
}

function prepareSchema(db: Database.Database, file: string, readonly: boolean): void {
  // Reading the header is the first thing that touches the file, so a non-database fails here.
  const applicationId = Number(db.pragma("application_id", { simple: true }));
  const version = Number(db.pragma("user_version", { simple: true }));
  const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number };
  if (applicationId === 0 && tables.n === 0) {
    if (readonly) throw new StoreError("store-foreign", file, "the database is empty: it holds no audit log");
    // Another process may be creating the same file: decide again under the write lock.
    db.exec("BEGIN IMMEDIATE");
    try {
      const again = db.prepare("SELECT count(*) AS n FROM sqlite_schema").get() as { n: number };
      if (again.n === 0) db.exec(`${SCHEMA} PRAGMA application_id = ${AUDIT_APPLICATION_ID}; PRAGMA user_version = ${AUDIT_SCHEMA_VERSION};`);
      db.exec("COMMIT");
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK");
      throw error;
    }
    prepareSchema(db, file, readonly);
    return;
  }
  if (applicationId !== AUDIT_APPLICATION_ID) {
    throw new StoreError(
      "store-foreign",
      file,
      "this SQLite database is not a Gatehouse audit log; point --db at the audit database (audit.db) or move this file away",
    );
  }
  if (version !== AUDIT_SCHEMA_VERSION) {
    throw new StoreError(
      "store-version",
      file,
      `the audit database has schema version ${version}, this Gatehouse reads version ${AUDIT_SCHEMA_VERSION}; use a matching Gatehouse release`,
    );
  }
}

class SqliteAuditStore implements AuditStore {
  readonly location: string;
  readonly #db: Database.Database;
  readonly #insertRecord: Database.Statement<[number, Uint8Array, string]>;
  readonly #appendMany: (records: readonly NewAuditRecord[]) => void;
  readonly #insertCheckpoint: Database.Statement<[number, string, string]>;
  readonly #maxSeq: Database.Statement<[], { m: number | null }>;
  readonly #leavesSince: Database.Statement<[number], [number, Buffer, string]>;
  readonly #checkpointsSince: Database.Statement<[number], StoredCheckpoint>;
  readonly #noWait: Database.Statement<[]>;
  readonly #wait: Database.Statement<[]>;
  readonly #locked: Database.Transaction<(knownSize: number, work: (changes: StoreChanges) => StoreAppend) => void>;

  constructor(db: Database.Database, file: string) {
    this.#db = db;
    this.location = file;
    this.#insertRecord = db.prepare("INSERT INTO records (seq, leaf_hash, record) VALUES (?, ?, ?)");
    this.#appendMany = db.transaction((records: readonly NewAuditRecord[]) => {
      for (const r of records) this.#insertRecord.run(r.seq, r.leafHash, r.record);
    });
    this.#insertCheckpoint = db.prepare("INSERT INTO checkpoints (size, note, created) VALUES (?, ?, ?)");
    this.#maxSeq = db.prepare("SELECT max(seq) AS m FROM records");
    this.#leavesSince = db.prepare<[number], [number, Buffer, string]>("SELECT seq, leaf_hash, record FROM records WHERE seq >= ? ORDER BY seq").raw(true);
    this.#checkpointsSince = db.prepare("SELECT size, note, created FROM checkpoints WHERE size >= ? ORDER BY size");
    this.#noWait = db.prepare("PRAGMA busy_timeout = 0");
    this.#wait = db.prepare(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.#locked = db.transaction((knownSize: number, work: (changes: StoreChanges) => StoreAppend) => {
      const m = this.#maxSeq.get()?.m ?? null;
      const size = m === null ? 0 : m + 1;
      const leaves = size > knownSize ? this.#leavesSince.all(knownSize).map(([seq, leafHash, record]) => ({ seq, leafHash, record })) : [];
      const out = runWork(work, { size, leaves, checkpoints: this.#checkpointsSince.all(knownSize) });
      for (const r of out.records ?? []) this.#insertRecord.run(r.seq, r.leafHash, r.record);
      if (out.checkpoint) this.#insertCheckpoint.run(out.checkpoint.size, out.checkpoint.note, out.checkpoint.created);
    });
  }

  #run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(toStoreError(error, this.location));
    }
  }

  origin(): Promise<string | undefined> {
    return this.#run(() => {
      const row = this.#db.prepare("SELECT value FROM meta WHERE key = 'origin'").get() as { value: string } | undefined;
      return row?.value;
    });
  }

  setOrigin(origin: string): Promise<void> {
    return this.#run(() => {
      this.#db.prepare("INSERT INTO meta (key, value) VALUES ('origin', ?)").run(origin);
    });
  }

  nextSeq(): Promise<number> {
    return this.#run(() => {
      const row = this.#db.prepare("SELECT max(seq) AS m FROM records").get() as { m: number | null };
      return row.m === null ? 0 : row.m + 1;
    });
  }

  appendRecords(records: readonly NewAuditRecord[]): Promise<void> {
    return this.#run(() => {
      if (records.length > 0) this.#appendMany(records);
    });
  }

  appendCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    return this.#run(() => {
      this.#insertCheckpoint.run(checkpoint.size, checkpoint.note, checkpoint.created);
    });
  }

  async appendLocked(knownSize: number, work: (changes: StoreChanges) => StoreAppend): Promise<void> {
    // BEGIN IMMEDIATE takes the write lock first, so what is read inside is the latest state and
    // nobody appends before this commits. While another process holds the lock, wait here
    // without blocking the event loop (SQLite's own busy handler would sleep in it), then fail
    // with `store-busy`: nothing was written.
    const deadline = Date.now() + BUSY_TIMEOUT_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        this.#noWait.run();
        try {
          this.#locked.immediate(knownSize, work);
        } finally {
          this.#wait.run();
        }
        return;
      } catch (error) {
        if (error instanceof WorkError) throw error.cause;
        if (!isBusy(error) || Date.now() >= deadline) throw toStoreError(error, this.location);
      }
      // Every 1–3 ms: often enough to get in between another writer's commits.
      await new Promise((resolve) => setTimeout(resolve, 1 + 2 * Math.random()));
    }
  }

  async *readRecords(from: number, to: number, pageSize = 4096): AsyncIterable<readonly StoredAuditRecord[]> {
    const statement = this.#db
      .prepare("SELECT seq, leaf_hash, record FROM records WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?")
      .raw(true);
    let next = from;
    for (;;) {
      const rows = await this.#run(() => statement.all(next, to, pageSize) as [number, Buffer, string][]);
      if (rows.length === 0) return;
      yield rows.map(([seq, leafHash, record]) => ({ seq, leafHash, record }));
      const last = rows[rows.length - 1];
      if (!last || rows.length < pageSize) return;
      next = last[0] + 1;
    }
  }

  async *readRecordBytes(from: number, to: number, pageSize = 4096): AsyncIterable<readonly StoredRecordBytes[]> {
    // One blob per row (hash then record) instead of two: each blob costs a Buffer allocation,
    // and this is the hot loop of `verify`.
    const statement = this.#db
      .prepare("SELECT seq, length(leaf_hash), CAST(leaf_hash || record AS BLOB) FROM records WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?")
      .raw(true);
    let next = from;
    for (;;) {
      const rows = await this.#run(() => statement.all(next, to, pageSize) as [number, number, Buffer][]);
      if (rows.length === 0) return;
      yield rows.map(([seq, hashLength, both]) => ({ seq, leafHash: both.subarray(0, hashLength), bytes: both.subarray(hashLength) }));
      const last = rows[rows.length - 1];
      if (!last || rows.length < pageSize) return;
      next = last[0] + 1;
    }
  }

  async *readLeafHashes(from: number, to: number, pageSize = 16384): AsyncIterable<readonly StoredLeafHash[]> {
    // Opening the log reads every leaf hash (at every `gatehouse run`): a page comes as one blob,
    // the hashes end to end, rather than as a Buffer per row. Only for a page that is what a
    // writer stores (consecutive seqs, 32-byte hashes); any other is read row by row, as stored.
    const packed = this.#db
      .prepare(
        "SELECT count(*), min(seq), max(seq), CAST(group_concat(leaf_hash, x'' ORDER BY seq) AS BLOB) FROM (SELECT seq, leaf_hash FROM records WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?)",
      )
      .raw(true);
    const statement = this.#db
      .prepare("SELECT seq, leaf_hash FROM records WHERE seq >= ? AND seq < ? ORDER BY seq LIMIT ?")
      .raw(true);
    let next = from;
    for (;;) {
      const [count, first, last, hashes] = await this.#run(() => packed.get(next, to, pageSize) as [number, number | null, number | null, Buffer | null]);
      if (count === 0) return;
      const start = next;
      const page: StoredLeafHash[] =
        first === start && last === start + count - 1 && hashes?.length === 32 * count
          ? Array.from({ length: count }, (_, i) => ({ seq: start + i, leafHash: hashes.subarray(32 * i, 32 * i + 32) }))
          : (await this.#run(() => statement.all(start, to, pageSize) as [number, Buffer][])).map(([seq, leafHash]) => ({ seq, leafHash }));
      yield page;
      const end = page[page.length - 1];
      if (!end || page.length < pageSize) return;
      next = end.seq + 1;
    }
  }

  readCheckpoints(options: { readonly latest?: boolean } = {}): Promise<readonly StoredCheckpoint[]> {
    const sql = options.latest ? "SELECT size, note, created FROM checkpoints ORDER BY size DESC LIMIT 1" : "SELECT size, note, created FROM checkpoints ORDER BY size";
    return this.#run(() => this.#db.prepare(sql).all() as StoredCheckpoint[]);
  }

  close(): Promise<void> {
    return this.#run(() => {
      if (this.#db.open) this.#db.close();
    });
  }
}

function isBusy(error: unknown): boolean {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  return code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY_");
}

/** Carries an error thrown by the caller's `work` through the transaction, to be rethrown unchanged. */
class WorkError extends Error {
  constructor(cause: unknown) {
    super("the work of a locked append failed", { cause });
  }
}

function runWork(work: (changes: StoreChanges) => StoreAppend, changes: StoreChanges): StoreAppend {
  try {
    return work(changes);
  } catch (error) {
    throw new WorkError(error);
  }
}

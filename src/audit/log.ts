import type { AuditEvent, AuditSink } from "../core/index.js";
import { openSqliteAuditStore, StoreError, type AuditStore, type NewAuditRecord, type StoreChanges } from "../store/writer.js";
import { openCheckpoint, signCheckpoint, type Checkpoint } from "./checkpoint.js";
import { AuditError, fromStoreError } from "./errors.js";
import { MerkleAccumulator, hashLeafText } from "./merkle.js";
import type { NoteSigningKey } from "./note.js";
import type { CheckpointPublisher } from "./publish.js";
import { encodeEvent, encodeRecord, type Redactor } from "./record.js";

/** Default size above which a result is stored truncated (its SHA-256 kept). */
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024;
const DEFAULT_CHECKPOINT_RECORDS = 10_000;
const DEFAULT_CHECKPOINT_MS = 60_000;
const DEFAULT_MAX_BATCH = 8192;

/** Options for {@link openAuditLog}. */
export interface AuditLogOptions {
  /** The SQLite database file (created if missing). Give this or `store`. */
  readonly path?: string;
  /** A store implementation to use instead of the SQLite file at `path`. */
  readonly store?: AuditStore;
  /** The log's Ed25519 signing key; its name becomes the log's origin. */
  readonly signingKey: NoteSigningKey;
  /** Sign a checkpoint after this many new records or this much time, whichever comes first (and on close). */
  readonly checkpointEvery?: { readonly records?: number; readonly ms?: number };
  /** Where each checkpoint is also published (a file on another volume, an HTTP endpoint). */
  readonly publish?: readonly CheckpointPublisher[];
  /** Called when publishing a checkpoint fails (records are still durable; the next checkpoint retries). */
  readonly onPublishError?: (error: AuditError) => void;
  /** The redaction hook, applied to arguments, results, errors and reasons before anything is written. */
  readonly redact?: Redactor;
  /** Results whose canonical JSON is larger are stored truncated with their SHA-256; default 64 KiB. */
  readonly maxResultBytes?: number;
  /** SQLite only: refuse to grow the database past this many bytes (writes then fail as on a full disk). */
  readonly maxBytes?: number;
  /** SQLite only: `full` (default, survives power loss) or `normal` (survives process crashes). */
  readonly synchronous?: "full" | "normal";
  /** Most records committed in one transaction; default 8192. */
  readonly maxBatch?: number;
  /** The clock for the `logged` time of records and checkpoints. */
  readonly clock?: () => Date;
}

/** What an operator's health check wants to know about a running log. */
export interface AuditLogStatus {
  /** Records acknowledged (durable). */
  readonly size: number;
  /** Size of the latest signed checkpoint. */
  readonly checkpointSize: number;
  /** Checkpoint publications that failed since the log was opened. */
  readonly publishFailures: number;
  /** Why the log refuses appends, when it does (the Gate is denying every action). */
  readonly failure?: string;
}

/** The durable, verifiable audit log: an AuditSink the Gate writes to. */
export interface DurableAuditLog extends AuditSink {
  /** The log's identity, as its checkpoints name it. */
  readonly origin: string;
  /**
   * Stores one event. Resolves only once the record is durable (its batch committed); rejects
   * with an AuditError when it cannot be written, which the Gate turns into a deny.
   */
  append(event: AuditEvent): Promise<void>;
  /** Signs (and publishes) a checkpoint of everything acknowledged so far; returns the signed note. */
  checkpoint(): Promise<string | undefined>;
  status(): AuditLogStatus;
  /** Stops accepting events, commits what is queued, signs a final checkpoint and closes the store. */
  close(): Promise<void>;
}

interface Pending {
  readonly eventJson: string;
  readonly resolve: () => void;
  readonly reject: (error: AuditError) => void;
}

/**
 * Opens the durable audit log: an append-only RFC 6962 Merkle log of canonical-JSON records in
 * SQLite (WAL), with group commit and Ed25519-signed C2SP checkpoints.
 *
 * On open it checks the stored log against its latest stored checkpoint and against the latest
 * published one (for publishers that can be read back), and refuses (`audit-log-diverged`) to
 * extend a log that no longer matches them. Records written before a crash but after the last
 * checkpoint are signed at once.
 *
 * Several processes may write the same log: each commit and each checkpoint runs under the
 * store's write lock and first catches up with what the others appended (see docs/audit.md,
 * "Several processes").
 *
 * @example
 * const log = await openAuditLog({ path: "/var/lib/gatehouse/audit.db", signingKey: readSigningKeyFile(keyFile) });
 * const gate = createGate({ policy, audit: log });
 * // … on shutdown:
 * await log.close();
 */
export async function openAuditLog(options: AuditLogOptions): Promise<DurableAuditLog> {
  const key = options.signingKey;
  const clock = options.clock ?? (() => new Date());
  const maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  const maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
  const everyRecords = options.checkpointEvery?.records ?? DEFAULT_CHECKPOINT_RECORDS;
  const everyMs = options.checkpointEvery?.ms ?? DEFAULT_CHECKPOINT_MS;
  const publishers = options.publish ?? [];
  for (const [name, value] of [["maxResultBytes", maxResultBytes], ["maxBatch", maxBatch], ["checkpointEvery.records", everyRecords], ["checkpointEvery.ms", everyMs]] as const) {
    if (!Number.isSafeInteger(value) || value < (name === "maxResultBytes" ? 0 : 1)) {
      throw new AuditError("audit-option-invalid", `audit log option \`${name}\` must be a positive integer, got \`${String(value)}\``);
    }
  }
  const store = openStore(options);
  try {
    const state = await loadState(store, key, publishers);
    return createWriter({ store, key, clock, maxResultBytes, maxBatch, everyRecords, everyMs, publishers, state, options });
  } catch (error) {
    await store.close().catch(() => undefined);
    throw asAuditError(error);
  }
}

function openStore(options: AuditLogOptions): AuditStore {
  if (options.store) return options.store;
  if (!options.path) throw new AuditError("audit-option-invalid", "openAuditLog needs `path` (the database file) or `store`");
  try {
    return openSqliteAuditStore(options.path, {
      ...(options.maxBytes === undefined ? {} : { maxBytes: options.maxBytes }),
      ...(options.synchronous === undefined ? {} : { synchronous: options.synchronous }),
    });
  } catch (error) {
    throw asAuditError(error);
  }
}

interface LogState {
  origin: string;
  tree: MerkleAccumulator;
  /** Hex leaf hash of the last record. */
  prev: string | undefined;
  checkpointSize: number;
  /** The note of the latest stored checkpoint, known to match the tree. */
  checkpointNote: string | undefined;
}

async function loadState(store: AuditStore, key: NoteSigningKey, publishers: readonly CheckpointPublisher[]): Promise<LogState> {
  let origin = await store.origin();
  if (origin === undefined) {
    try {
      await store.setOrigin(key.name);
    } catch (error) {
      // Another process opening the same new log set it first: read back what it set.
      if (!(error instanceof StoreError && error.code === "store-conflict")) throw error;
    }
    origin = (await store.origin()) ?? key.name;
  }
  if (origin !== key.name) {
    throw new AuditError(
      "audit-key-mismatch",
      `${store.location}: this log is \`${origin}\` but the signing key is named \`${key.name}\`; use the log's own key`,
    );
  }
  // Checkpoints the stored records must still match: the latest stored one and the latest published ones.
  const expected: { checkpoint: Checkpoint; source: string }[] = [];
  // The latest only (a store that returns them all still ends with it).
  const stored = await store.readCheckpoints({ latest: true });
  const latestStored = stored[stored.length - 1];
  if (latestStored) expected.push({ checkpoint: trusted(latestStored.note, key, origin, `${store.location} (stored checkpoint)`), source: "the stored checkpoint" });
  for (const publisher of publishers) {
    const note = publisher.latest ? await publisher.latest() : undefined;
    if (note !== undefined) expected.push({ checkpoint: trusted(note, key, origin, publisher.target), source: publisher.target });
  }
  // Several checkpoints may share a size (the stored one and a published one): check each.
  const wanted = new Map<number, { checkpoint: Checkpoint; source: string }[]>();
  for (const e of expected) wanted.set(e.checkpoint.size, [...(wanted.get(e.checkpoint.size) ?? []), e]);
  const tree = new MerkleAccumulator();
  let prev: Uint8Array | undefined;
  const end = await store.nextSeq();
  const checkAt = (size: number): void => {
    for (const e of wanted.get(size) ?? []) {
      if (tree.root().equals(e.checkpoint.root)) continue;
      throw new AuditError(
        "audit-log-diverged",
        `${store.location}: the first ${size} records no longer match ${e.source}; the log was changed; run \`gatehouse audit verify\``,
      );
    }
  };
  checkAt(0);
  for await (const page of store.readLeafHashes(0, end)) {
    for (const leaf of page) {
      if (leaf.seq !== tree.size) {
        throw new AuditError("audit-log-diverged", `${store.location}: record ${tree.size} is missing; run \`gatehouse audit verify\``);
      }
      tree.append(leaf.leafHash);
      prev = leaf.leafHash;
      checkAt(tree.size);
    }
  }
  if (tree.size !== end) throw new AuditError("audit-log-diverged", `${store.location}: record ${tree.size} is missing; run \`gatehouse audit verify\``);
  for (const e of expected) {
    if (e.checkpoint.size > tree.size) {
      throw new AuditError(
        "audit-log-diverged",
        `${store.location}: the log has ${tree.size} records but ${e.source} was signed at ${e.checkpoint.size}: records were removed`,
      );
    }
  }
  return {
    origin,
    tree,
    prev: prev === undefined ? undefined : Buffer.from(prev).toString("hex"),
    checkpointSize: latestStored?.size ?? -1,
    checkpointNote: latestStored?.note,
  };
}

function trusted(note: string, key: NoteSigningKey, origin: string, source: string): Checkpoint {
  try {
    return openCheckpoint(note, key.verifier, origin);
  } catch (error) {
    throw new AuditError(
      "audit-log-diverged",
      `${source}: ${error instanceof Error ? error.message : String(error)}; refusing to extend a log whose checkpoints do not verify`,
      { cause: error },
    );
  }
}

interface WriterParts {
  readonly store: AuditStore;
  readonly key: NoteSigningKey;
  readonly clock: () => Date;
  readonly maxResultBytes: number;
  readonly maxBatch: number;
  readonly everyRecords: number;
  readonly everyMs: number;
  readonly publishers: readonly CheckpointPublisher[];
  readonly state: LogState;
  readonly options: AuditLogOptions;
}

async function createWriter(parts: WriterParts): Promise<DurableAuditLog> {
  const { store, key, clock, maxBatch, everyRecords, everyMs, publishers, options } = parts;
  const encodeOptions = { maxResultBytes: parts.maxResultBytes, ...(options.redact ? { redact: options.redact } : {}) };
  const origin = parts.state.origin;
  let tree = parts.state.tree;
  let prev = parts.state.prev;
  let checkpointSize = parts.state.checkpointSize;
  let checkpointNote = parts.state.checkpointNote;
  /** When a locked operation last found records another writer appended (ms since the epoch). */
  let othersSeenAt = -Infinity;
  let closed = false;
  let failure: AuditError | undefined;
  let publishFailures = 0;
  const queue: Pending[] = [];
  let pump: Promise<void> | undefined;
  let checkpointWanted = false;
  let nextNote: string | undefined;
  let publishing: Promise<void> | undefined;

  function refuse(): AuditError | undefined {
    if (failure) {
      return new AuditError("audit-unavailable", `the audit log cannot be written since an earlier failure: ${failure.message}; restart after fixing it`, {
        cause: failure,
      });
    }
    if (closed) return new AuditError("audit-closed", "the audit log is closed");
    return undefined;
  }

  function schedule(): void {
    if (pump) return;
    pump = new Promise<void>((resolve) => setImmediate(resolve)).then(runPump).finally(() => {
      pump = undefined;
      // Work queued while the last step was finishing.
      if ((queue.length > 0 || checkpointWanted) && !failure) schedule();
    });
  }

  async function runPump(): Promise<void> {
    try {
      await drain();
    } catch (error) {
      // Not expected (store errors are handled in commit): still, never leave an append hanging.
      failure ??= asAuditError(error);
      for (const p of queue.splice(0)) p.reject(refuse() as AuditError);
    }
  }

  async function drain(): Promise<void> {
    while (queue.length > 0 || checkpointWanted) {
      if (queue.length > 0) {
        const batch = queue.splice(0, maxBatch);
        await exclusive(() => commit(batch));
        // Another process writes this log too: leave the lock free for a moment before the next
        // batch, or a busy writer would keep it (SQLite's lock is not fair) and starve the other.
        if (Date.now() - othersSeenAt < 1000 && queue.length > 0) await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (failure) {
        for (const p of queue.splice(0)) p.reject(refuse() as AuditError);
        checkpointWanted = false;
        return;
      }
      if (checkpointWanted || tree.size - checkpointSize >= everyRecords) {
        checkpointWanted = false;
        // A failed checkpoint loses no record: a full disk or a busy lock is retried at the
        // next one, any other failure has already stopped the log (see signOnce).
        await signNow().catch(() => undefined);
      }
    }
  }

  /** Where the writer stands once a locked store operation commits. */
  interface Position {
    tree: MerkleAccumulator;
    prev: string | undefined;
    checkpointSize: number;
    checkpointNote: string | undefined;
  }

  /**
   * Brings a copy of the tree up to what the store holds: other processes may write the same
   * log, so records may have been appended since this writer last looked. Runs under the store's
   * write lock and checks what it reads as loadState does: sequence numbers follow on, and every
   * stored checkpoint in that stretch (verified with the log's key) matches the recomputed root.
   * Throws `audit-log-diverged` otherwise, which stops the log.
   */
  function catchUp(changes: StoreChanges): Position {
    if (changes.leaves.length > 0) othersSeenAt = Date.now();
    const next = tree.clone();
    let last = prev;
    let latestSize = checkpointSize;
    let latestNote = checkpointNote;
    const bySize = new Map(changes.checkpoints.map((c) => [c.size, c]));
    const diverged = (message: string): AuditError => new AuditError("audit-log-diverged", `${store.location}: ${message}; run \`gatehouse audit verify\``);
    const checkAt = (size: number): void => {
      const stored = bySize.get(size);
      if (!stored) return;
      bySize.delete(size);
      // Verified even when it reads like this writer's own last note: a copied row at another size must not count.
      const checkpoint = trusted(stored.note, key, origin, `${store.location} (stored checkpoint at ${size})`);
      if (checkpoint.size !== size || !checkpoint.root.equals(next.root())) {
        throw diverged(`the checkpoint stored at ${size} records does not match them; another writer signed a different history`);
      }
      latestSize = size;
      latestNote = stored.note;
    };
    if (changes.size < next.size) throw diverged(`the log has ${changes.size} records but this writer acknowledged ${next.size}: records were removed`);
    checkAt(next.size);
    for (const leaf of changes.leaves) {
      if (leaf.seq !== next.size) throw diverged(`record ${next.size} is missing`);
      // Another writer's record is built on (and later signed over) only if it is what a writer
      // stores: its text hashes to its leaf hash, names its own seq and chains to the previous one.
      if (!hashLeafText(leaf.record).equals(leaf.leafHash)) throw diverged(`record ${leaf.seq} does not match its leaf hash`);
      if (!chainsTo(leaf.record, leaf.seq, last)) throw diverged(`record ${leaf.seq} does not carry its own sequence number and the previous record's hash`);
      next.append(leaf.leafHash);
      last = Buffer.from(leaf.leafHash).toString("hex");
      checkAt(next.size);
    }
    if (next.size !== changes.size) throw diverged(`record ${next.size} is missing`);
    const beyond = [...bySize.keys()][0];
    if (beyond !== undefined) throw diverged(`the log has ${next.size} records but a checkpoint is stored at ${beyond}: records were removed`);
    return { tree: next, prev: last, checkpointSize: latestSize, checkpointNote: latestNote };
  }

  function moveTo(position: Position): void {
    tree = position.tree;
    prev = position.prev;
    checkpointSize = position.checkpointSize;
    checkpointNote = position.checkpointNote;
  }

  /** Numbers and hashes a batch after `from` (a copy of the tree, extended in place). */
  function build(batch: readonly Pending[], from: MerkleAccumulator, prevLeaf: string | undefined, logged: string): { records: NewAuditRecord[]; prev: string | undefined } {
    let last = prevLeaf;
    const records = batch.map((p) => {
      const seq = from.size;
      const record = encodeRecord(p.eventJson, seq, last, logged);
      const leafHash = hashLeafText(record);
      from.append(leafHash);
      last = leafHash.toString("hex");
      return { seq, leafHash, record };
    });
    return { records, prev: last };
  }

  async function commit(batch: Pending[]): Promise<void> {
    const logged = clock().toISOString();
    // Built before taking the lock, on the guess that nobody else appended meanwhile: the lock is
    // then held only for the inserts and the fsync. If someone did, built again after them.
    const known = tree.size;
    const guessTree = tree.clone();
    const guess = build(batch, guessTree, prev, logged);
    const done: { position?: Position } = {};
    try {
      // Under the store's write lock: catch up with other writers, then number the batch after them.
      await store.appendLocked(known, (changes) => {
        const position = catchUp(changes);
        if (changes.size === known) {
          done.position = { ...position, tree: guessTree, prev: guess.prev };
          return { records: guess.records };
        }
        const again = build(batch, position.tree, position.prev, logged);
        done.position = { ...position, prev: again.prev };
        return { records: again.records };
      });
    } catch (error) {
      const err = asAuditError(error);
      // A full disk, or a write lock another writer held too long, rolls the transaction back
      // cleanly and may clear; anything else leaves the outcome of the commit unknown (or the
      // log diverged), so the log stops until it is reopened from disk.
      if (!retryable(err)) failure = err;
      for (const p of batch) p.reject(err);
      return;
    }
    if (done.position) moveTo(done.position);
    for (const p of batch) p.resolve();
  }

  // One store write at a time: a commit and a signing (a caller's checkpoint() racing the
  // timer's, or a second caller) each start from the position the previous one left.
  let writing: Promise<unknown> = Promise.resolve();
  function exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = writing.then(work, work);
    writing = run.catch(() => undefined);
    return run;
  }

  function signNow(): Promise<string | undefined> {
    return exclusive(signOnce);
  }

  /**
   * Signs a checkpoint of everything the store holds, under its write lock. Another writer may
   * have signed that size already: with the same root (checked by catchUp) that is done, and
   * nothing is signed; with another root the log diverged and stops.
   */
  async function signOnce(): Promise<string | undefined> {
    if (failure) throw failure;
    const done: { position?: Position; note?: string } = {};
    try {
      await store.appendLocked(tree.size, (changes) => {
        const position = catchUp(changes);
        done.position = position;
        if (position.tree.size === position.checkpointSize) return {};
        const size = position.tree.size;
        const note = signCheckpoint({ origin, size, root: position.tree.root() }, key);
        done.position = { ...position, checkpointSize: size, checkpointNote: note };
        done.note = note;
        return { checkpoint: { size, note, created: clock().toISOString() } };
      });
    } catch (error) {
      const err = asAuditError(error);
      if (!retryable(err)) failure = err;
      throw err;
    }
    if (done.position) moveTo(done.position);
    if (done.note !== undefined) queuePublish(done.note);
    return done.note;
  }

  function queuePublish(note: string): void {
    if (publishers.length === 0) return;
    nextNote = note;
    publishing ??= publishLoop();
  }

  async function publishLoop(): Promise<void> {
    while (nextNote !== undefined) {
      const note = nextNote;
      nextNote = undefined;
      const results = await Promise.allSettled(publishers.map((p) => p.publish(note)));
      for (const result of results) {
        if (result.status === "rejected") {
          publishFailures++;
          options.onPublishError?.(asAuditError(result.reason));
        }
      }
    }
    publishing = undefined;
  }

  // A crash may have left acknowledged records after the last checkpoint: sign them now.
  if (tree.size !== checkpointSize) await signNow().catch((error: unknown) => {
    throw asAuditError(error);
  });
  const timer = setInterval(() => {
    if (!closed && !failure && tree.size !== checkpointSize) {
      checkpointWanted = true;
      schedule();
    }
  }, everyMs);
  timer.unref();

  return {
    origin,
    append(event) {
      const refused = refuse();
      if (refused) return Promise.reject(refused);
      let eventJson: string;
      try {
        eventJson = encodeEvent(event, encodeOptions);
      } catch (error) {
        return Promise.reject(asAuditError(error));
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ eventJson, resolve, reject });
        schedule();
      });
    },
    async checkpoint() {
      const refused = refuse();
      if (refused) throw refused;
      while (pump) await pump;
      const note = await signNow();
      await publishing;
      return note;
    },
    status() {
      return {
        size: tree.size,
        checkpointSize: Math.max(checkpointSize, 0),
        publishFailures,
        ...(failure ? { failure: failure.message } : {}),
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      try {
        while (pump) await pump;
        // A final checkpoint that cannot be stored (full disk) loses no record: the next open
        // signs the tail. Any other failure already stopped the log.
        if (!failure) await signNow().catch(() => undefined);
        await publishing;
      } finally {
        await store.close();
      }
    },
  };
}

/** Failures after which nothing was written and the next batch may succeed: the log keeps going. */
function retryable(error: AuditError): boolean {
  return error.code === "audit-disk-full" || error.code === "audit-busy";
}

/** Whether a stored record names `seq` and chains to the previous leaf hash (hex), as encodeRecord writes them. */
function chainsTo(record: string, seq: number, prev: string | undefined): boolean {
  try {
    const parsed = JSON.parse(record) as { seq?: unknown; prev?: unknown };
    return parsed.seq === seq && parsed.prev === prev;
  } catch {
    return false;
  }
}

function asAuditError(error: unknown): AuditError {
  if (error instanceof AuditError) return error;
  if (error instanceof StoreError) return fromStoreError(error);
  return new AuditError("audit-unavailable", `the audit log failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

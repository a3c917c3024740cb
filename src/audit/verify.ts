import { openSqliteAuditStore, StoreError, type AuditStore, type StoredRecordBytes } from "../store/index.js";
import { openCheckpoint, type Checkpoint } from "./checkpoint.js";
import { AuditError } from "./errors.js";
import { createHashPool, LEAF_MISMATCH, TAIL_PARSED, type HashedPage } from "./hash-pool.js";
import { MerkleAccumulator } from "./merkle.js";
import type { NoteVerifierKey } from "./note.js";
import { RECORD_VERSION } from "./record.js";

/**
 * Stable names for what `verify` finds (append-only; documented in docs/audit.md).
 *
 * INVARIANT: codes are never reused or renamed; scripts match on them.
 */
export const VERIFY_PROBLEM_CODES = [
  "log-missing",
  "store-corrupt",
  "store-foreign",
  "record-changed",
  "record-missing",
  "record-out-of-place",
  "record-unknown-version",
  "chain-broken",
  "checkpoint-mismatch",
  "log-truncated",
  "checkpoint-untrusted",
  "checkpoint-foreign",
  "checkpoint-malformed",
  "too-many-problems",
] as const;

export type VerifyProblemCode = (typeof VERIFY_PROBLEM_CODES)[number];

/** One thing wrong with the log. `index` names the record when one record is to blame. */
export interface VerifyProblem {
  readonly code: VerifyProblemCode;
  readonly message: string;
  /** The bad record's sequence number (0-based). */
  readonly index?: number;
  /** The checkpoint size concerned. */
  readonly size?: number;
  /** Where the checkpoint concerned came from (the database, a file). */
  readonly source?: string;
}

/** What `verify` found. `ok` is true only when there are no problems at all. */
export interface VerifyReport {
  readonly ok: boolean;
  /** Records in the log. */
  readonly size: number;
  /** Hex RFC 6962 root of the log as it is stored now. */
  readonly root: string;
  readonly problems: readonly VerifyProblem[];
  /** The log's origin, when the database could be read. */
  readonly origin?: string;
  /** Checkpoints whose signature verified and whose root matched. */
  readonly checkpointsVerified: number;
  /** Largest size vouched for by a verified checkpoint (-1 when none). */
  readonly signedSize: number;
}

/** A published checkpoint to compare the log with, and where it came from. */
export interface ExternalCheckpoint {
  readonly note: string;
  readonly source: string;
}

/** Options for {@link verifyAuditLog}. */
export interface VerifyOptions {
  /** The database file; opened read-only. Give this or `store`. */
  readonly path?: string;
  readonly store?: AuditStore;
  /** The trusted verifier key: keep a copy apart from the log (a forger can replace both). */
  readonly verifierKey: NoteVerifierKey;
  /** Published checkpoints (from a file on another volume, a witness…). */
  readonly checkpoints?: readonly ExternalCheckpoint[];
  /** Stop listing problems after this many; default 100. */
  readonly maxProblems?: number;
}

/** Records per page; a power of two so a full aligned page is one perfect subtree. */
const PAGE_SIZE = 4096;
const PAGE_HEIGHT = 12;
/** Pages being hashed while the main thread reads the next ones. */
const PIPELINE_DEPTH = 4;

interface Expected {
  readonly checkpoint: Checkpoint;
  readonly source: string;
}

/**
 * Recomputes the Merkle tree from every stored record and checks each record, the hash chain
 * between records, and every checkpoint (stored and published): signature, origin and root.
 * Reads the log once, in constant memory. Problems come in log order, so the first one names
 * the first bad record.
 *
 * @example
 * const report = await verifyAuditLog({ path: "audit.db", verifierKey: readVerifierKeyFile("audit.key.pub") });
 * if (!report.ok) console.error(report.problems[0]?.message);
 */
export async function verifyAuditLog(options: VerifyOptions): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const late: VerifyProblem[] = [];
  const empty = { size: 0, root: new MerkleAccumulator().root().toString("hex"), checkpointsVerified: 0, signedSize: -1 };
  let store: AuditStore;
  try {
    store = options.store ?? openSqliteAuditStore(requirePath(options.path), { readonly: true });
  } catch (error) {
    return { ok: false, ...empty, problems: [storeProblem(error)] };
  }
  try {
    return await verifyStore(store, options, problems, late);
  } catch (error) {
    if (error instanceof StoreError) {
      problems.push(storeProblem(error));
      return { ok: false, ...empty, problems: [...problems, ...late] };
    }
    throw error;
  } finally {
    if (!options.store) await store.close().catch(() => undefined);
  }
}

function requirePath(path: string | undefined): string {
  if (!path) throw new AuditError("audit-option-invalid", "verifyAuditLog needs `path` (the database file) or `store`");
  return path;
}

function storeProblem(error: unknown): VerifyProblem {
  if (error instanceof StoreError) {
    switch (error.code) {
      case "store-missing":
        return { code: "log-missing", message: error.message };
      case "store-foreign":
      case "store-version":
        return { code: "store-foreign", message: error.message };
      case "store-corrupt":
      case "store-full":
      case "store-readonly":
      case "store-busy":
      case "store-conflict":
      case "store-io":
        return { code: "store-corrupt", message: error.message };
    }
  }
  throw error;
}

async function verifyStore(
  store: AuditStore,
  options: VerifyOptions,
  problems: VerifyProblem[],
  late: VerifyProblem[],
): Promise<VerifyReport> {
  const maxProblems = options.maxProblems ?? 100;
  const add = (problem: VerifyProblem): void => {
    if (problems.length < maxProblems) problems.push(problem);
    else if (problems.length === maxProblems) problems.push({ code: "too-many-problems", message: `more than ${maxProblems} problems; showing the first ones` });
  };
  const origin = await store.origin();
  if (origin === undefined) {
    add({ code: "store-corrupt", message: `${store.location}: the log has no origin (it was never opened by a writer, or its metadata was removed)` });
  }

  const expected: Expected[] = [];
  const consider = (note: string, source: string, storedSize?: number): void => {
    try {
      const checkpoint = openCheckpoint(note, options.verifierKey, origin);
      if (storedSize !== undefined && storedSize !== checkpoint.size) {
        late.push({ code: "checkpoint-malformed", message: `${source}: stored under size ${storedSize} but signed for size ${checkpoint.size}`, size: storedSize, source });
        return;
      }
      expected.push({ checkpoint, source });
    } catch (error) {
      if (!(error instanceof AuditError)) throw error;
      const code: VerifyProblemCode =
        error.code === "audit-checkpoint-foreign" ? "checkpoint-foreign" : error.code === "audit-checkpoint-untrusted" ? "checkpoint-untrusted" : "checkpoint-malformed";
      late.push({ code, message: `${source}: ${error.message}`, source, ...(storedSize === undefined ? {} : { size: storedSize }) });
    }
  };
  for (const stored of await store.readCheckpoints()) consider(stored.note, `stored checkpoint at size ${stored.size}`, stored.size);
  for (const external of options.checkpoints ?? []) consider(external.note, external.source);
  expected.sort((a, b) => a.checkpoint.size - b.checkpoint.size);

  const tree = new MerkleAccumulator();
  let nextCheck = 0;
  let lastGood = 0;
  let verified = 0;
  let signedSize = -1;
  const checkCheckpoints = (): void => {
    while (nextCheck < expected.length && (expected[nextCheck] as Expected).checkpoint.size === tree.size) {
      const { checkpoint, source } = expected[nextCheck] as Expected;
      nextCheck++;
      if (tree.root().equals(checkpoint.root)) {
        verified++;
        signedSize = Math.max(signedSize, checkpoint.size);
        lastGood = checkpoint.size;
      } else {
        add({
          code: "checkpoint-mismatch",
          message:
            `the first ${checkpoint.size} records do not match the checkpoint in ${source}: a record at or after ${lastGood} ` +
            `and before ${checkpoint.size} was changed, removed, reordered or inserted (or the whole log was replaced)`,
          size: checkpoint.size,
          source,
        });
      }
    }
  };
  checkCheckpoints();

  let expectedSeq = 0;
  let prevStoredLeaf: Uint8Array | undefined;
  const checkRecord = (row: StoredRecordBytes, page: HashedPage, i: number): void => {
    let placed = true;
    if (row.seq !== expectedSeq) {
      add({
        code: "record-missing",
        message: row.seq > expectedSeq ? `records ${expectedSeq}..${row.seq - 1} are missing: they were deleted` : `record ${row.seq} is stored twice`,
        index: expectedSeq,
      });
      placed = false;
      expectedSeq = row.seq;
    }
    const flags = page.flags[i] ?? 0;
    if (flags & LEAF_MISMATCH) {
      add({ code: "record-changed", message: `record ${row.seq} was changed: its content no longer matches the hash it was written with`, index: row.seq });
    }
    // The worker read v, seq and prev from the canonical tail; anything else is parsed here.
    let parsed: { v?: unknown; seq?: unknown; prevMatches: boolean } | undefined;
    if (flags & TAIL_PARSED) {
      const prev = page.prevs.subarray(i * 32, i * 32 + 32);
      parsed = { v: RECORD_VERSION, seq: page.seqs[i], prevMatches: prevStoredLeaf !== undefined && Buffer.compare(prev, prevStoredLeaf) === 0 };
    } else {
      const slow = parseRecord(row.bytes);
      const want = prevStoredLeaf === undefined ? undefined : Buffer.from(prevStoredLeaf).toString("hex");
      parsed = slow && { v: slow.v, seq: slow.seq, prevMatches: slow.prev === want };
    }
    if (parsed === undefined) {
      add({ code: "record-changed", message: `record ${row.seq} was changed: it is not a JSON record any more`, index: row.seq });
    } else if (parsed.v !== RECORD_VERSION) {
      add({ code: "record-unknown-version", message: `record ${row.seq} has format version ${String(parsed.v)}; this Gatehouse reads ${RECORD_VERSION}`, index: row.seq });
    } else if (parsed.seq !== row.seq) {
      add({
        code: "record-out-of-place",
        message: `position ${row.seq} holds record ${String(parsed.seq)}: records were reordered, removed or inserted`,
        index: row.seq,
      });
    } else if (placed && !parsed.prevMatches && prevStoredLeaf === undefined) {
      add({ code: "record-changed", message: `record ${row.seq} was changed: the first record names a predecessor`, index: row.seq });
    } else if (placed && !parsed.prevMatches) {
      add({
        code: "chain-broken",
        message: `record ${row.seq - 1} was changed or replaced: record ${row.seq} was written after a different record ${row.seq - 1}`,
        index: row.seq - 1,
      });
    }
    prevStoredLeaf = row.leafHash;
    expectedSeq++;
  };
  const handlePage = (rows: readonly StoredRecordBytes[], page: HashedPage): void => {
    // A full page that starts on a multiple of PAGE_SIZE is one perfect subtree: fold it in at
    // once, unless a checkpoint falls strictly inside it (its root must be compared there).
    const first = rows[0];
    const fold =
      page.root !== undefined &&
      first !== undefined &&
      first.seq === tree.size &&
      tree.size % PAGE_SIZE === 0 &&
      (nextCheck >= expected.length || (expected[nextCheck] as Expected).checkpoint.size >= tree.size + PAGE_SIZE);
    rows.forEach((row, i) => {
      checkRecord(row, page, i);
      if (!fold) {
        tree.append(page.leaves.subarray(i * 32, i * 32 + 32));
        checkCheckpoints();
      }
    });
    if (fold) {
      tree.appendSubtree(page.root, PAGE_HEIGHT);
      checkCheckpoints();
    }
  };

  const end = await store.nextSeq();
  const pool = createHashPool();
  try {
    const inflight: { rows: readonly StoredRecordBytes[]; hashed: Promise<HashedPage> }[] = [];
    const next = async (): Promise<void> => {
      const item = inflight.shift() as (typeof inflight)[number];
      handlePage(item.rows, await item.hashed);
    };
    for await (const rows of store.readRecordBytes(0, end, PAGE_SIZE)) {
      const aligned = rows.length === PAGE_SIZE && (rows[0] as StoredRecordBytes).seq % PAGE_SIZE === 0 && (rows[PAGE_SIZE - 1] as StoredRecordBytes).seq === (rows[0] as StoredRecordBytes).seq + PAGE_SIZE - 1;
      const hashed = pool.hashPage(rows, aligned);
      hashed.catch(() => undefined); // awaited in order below; this only marks it handled
      inflight.push({ rows, hashed });
      if (inflight.length >= PIPELINE_DEPTH) await next();
    }
    while (inflight.length > 0) await next();
  } finally {
    await pool.close();
  }
  for (const { checkpoint, source } of expected.slice(nextCheck)) {
    add({
      code: "log-truncated",
      message: `the log has ${tree.size} records but the checkpoint in ${source} was signed at ${checkpoint.size}: records at the end were removed`,
      size: checkpoint.size,
      source,
    });
  }
  for (const problem of late) add(problem);
  return {
    ok: problems.length === 0,
    size: tree.size,
    root: tree.root().toString("hex"),
    problems,
    ...(origin === undefined ? {} : { origin }),
    checkpointsVerified: verified,
    signedSize,
  };
}

/** Reads `v`, `seq` and `prev` of a record the worker could not read from its canonical tail. */
function parseRecord(bytes: Uint8Array): { v?: unknown; seq?: unknown; prev?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"));
    return typeof value === "object" && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

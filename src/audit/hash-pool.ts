import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

/**
 * Worker threads that compute RFC 6962 leaf hashes (and, for full aligned pages, the root of
 * the page's perfect subtree) so `verify` uses every core: the main thread reads SQLite and
 * checks records while the workers hash. The worker is plain JavaScript evaluated from this
 * string, so it runs the same under tsx, vitest and the compiled package (no loader needed).
 */
const WORKER_SOURCE = `
const { parentPort } = require("node:worker_threads");
const { hash } = require("node:crypto");
const TAIL = /,"prev":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,15}),"v":1}$/;
parentPort.on("message", (m) => {
  const data = Buffer.from(m.bytes);
  const stored = Buffer.from(m.stored);
  const offsets = m.offsets;
  const n = offsets.length - 1;
  const leaves = new Uint8Array(n * 32);
  const flags = new Uint8Array(n);
  const seqs = new Float64Array(n);
  const prevs = new Uint8Array(n * 32);
  for (let i = 0; i < n; i++) {
    const start = offsets[i];
    const end = offsets[i + 1];
    const buf = Buffer.allocUnsafe(1 + end - start);
    buf[0] = 0;
    data.copy(buf, 1, start, end);
    const leaf = hash("sha256", buf, "buffer");
    leaves.set(leaf, i * 32);
    if (!leaf.equals(stored.subarray(i * 32, i * 32 + 32))) flags[i] |= 1;
    const tail = TAIL.exec(data.latin1Slice(Math.max(start, end - 110), end));
    if (tail && data.latin1Slice(start, Math.min(end, start + 10)) === '{"event":{') {
      flags[i] |= 2;
      seqs[i] = Number(tail[2]);
      prevs.set(Buffer.from(tail[1], "hex"), i * 32);
    }
  }
  let root;
  if (m.wantRoot) {
    let level = leaves;
    let count = n;
    const pair = Buffer.allocUnsafe(65);
    pair[0] = 1;
    while (count > 1) {
      const next = new Uint8Array((count / 2) * 32);
      for (let i = 0; i < count / 2; i++) {
        pair.set(level.subarray(i * 64, i * 64 + 64), 1);
        next.set(hash("sha256", pair, "buffer"), i * 32);
      }
      level = next;
      count /= 2;
    }
    root = level;
  }
  const transfer = [leaves.buffer, flags.buffer, seqs.buffer, prevs.buffer];
  if (root) transfer.push(root.buffer);
  parentPort.postMessage({ id: m.id, leaves, root, flags, seqs, prevs }, transfer);
});
`;

/** What a worker computed for one page of records. */
export interface HashedPage {
  /** n leaf hashes, 32 bytes each, in order. */
  readonly leaves: Uint8Array;
  /** Root of the page's perfect subtree, when asked for (n a power of two). */
  readonly root?: Uint8Array;
  /**
   * Per record: bit 0 = its leaf hash differs from the stored one; bit 1 = the record ends in the
   * canonical `…,"prev":"<hex>","seq":N,"v":1}` and `seqs`/`prevs` hold those values.
   */
  readonly flags: Uint8Array;
  readonly seqs: Float64Array;
  /** 32 bytes per record: the `prev` leaf hash the record names. */
  readonly prevs: Uint8Array;
}

/** Flag bits of {@link HashedPage.flags}. */
export const LEAF_MISMATCH = 1;
export const TAIL_PARSED = 2;

/** A small pool of hashing workers; `close()` ends them. */
export interface HashPool {
  /** Hashes a page of records and compares each with its stored leaf hash. */
  hashPage(records: readonly { readonly bytes: Uint8Array; readonly leafHash: Uint8Array }[], wantRoot: boolean): Promise<HashedPage>;
  close(): Promise<void>;
}

/** Starts `size` workers (default: one less than the cores available, at least one). */
export function createHashPool(size = Math.max(1, Math.min(4, availableParallelism() - 1))): HashPool {
  const workers = Array.from({ length: size }, () => new Worker(WORKER_SOURCE, { eval: true }));
  const waiting = new Map<number, { resolve: (page: HashedPage) => void; reject: (error: unknown) => void }>();
  let nextId = 0;
  let dead: Error | undefined;
  let closing = false;
  for (const worker of workers) {
    worker.unref();
    worker.on("message", (m: HashedPage & { id: number }) => {
      const job = waiting.get(m.id);
      waiting.delete(m.id);
      job?.resolve({ leaves: m.leaves, flags: m.flags, seqs: m.seqs, prevs: m.prevs, ...(m.root ? { root: m.root } : {}) });
    });
    const fail = (error: unknown): void => {
      dead ??= error instanceof Error ? error : new Error(String(error));
      for (const job of waiting.values()) job.reject(dead);
      waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!closing) fail(new Error(`a hashing worker exited (code ${code})`));
    });
  }
  return {
    hashPage(records, wantRoot) {
      if (dead) return Promise.reject(dead);
      let total = 0;
      for (const r of records) total += r.bytes.length;
      const bytes = new Uint8Array(total);
      const stored = new Uint8Array(records.length * 32);
      const offsets = new Uint32Array(records.length + 1);
      let at = 0;
      records.forEach((r, i) => {
        bytes.set(r.bytes, at);
        if (r.leafHash.length === 32) stored.set(r.leafHash, i * 32);
        at += r.bytes.length;
        offsets[i + 1] = at;
      });
      const id = nextId++;
      const worker = workers[id % workers.length] as Worker;
      return new Promise<HashedPage>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, bytes: bytes.buffer, stored: stored.buffer, offsets, wantRoot }, [bytes.buffer, stored.buffer]);
      });
    },
    async close() {
      closing = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}

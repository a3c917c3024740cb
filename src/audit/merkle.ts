import { hash } from "node:crypto";
import { AuditError } from "./errors.js";

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification.
 *
 * Hash functions (RFC 9162 §2.1.1): a leaf is SHA-256(0x00 || leaf bytes), an interior node is
 * SHA-256(0x01 || left || right); the empty tree hashes to SHA-256(""). The domain separation
 * byte stops a leaf from being passed off as an interior node (second-preimage attacks).
 *
 * Sizes and indexes are JavaScript numbers: safe integers, so trees up to 2^53 leaves. JavaScript
 * bit operators work on 32 bits, so halving uses arithmetic, never `>>`.
 */

/** The 32-byte root of a tree with no leaves: SHA-256 of the empty string. */
export const EMPTY_ROOT: Buffer = hash("sha256", Buffer.alloc(0), "buffer");

/** RFC 9162 §2.1.1 leaf hash of raw bytes. */
export function hashLeaf(data: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(1 + data.length);
  buf[0] = 0;
  buf.set(data, 1);
  return hash("sha256", buf, "buffer");
}

/** RFC 9162 §2.1.1 leaf hash of a text's UTF-8 bytes (how audit records are hashed). */
export function hashLeafText(text: string): Buffer {
  const length = Buffer.byteLength(text, "utf8");
  const buf = Buffer.allocUnsafe(1 + length);
  buf[0] = 0;
  buf.write(text, 1, length, "utf8");
  return hash("sha256", buf, "buffer");
}

/** RFC 9162 §2.1.1 interior node hash. */
export function hashChildren(left: Uint8Array, right: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(65);
  buf[0] = 1;
  buf.set(left, 1);
  buf.set(right, 33);
  return hash("sha256", buf, "buffer");
}

/**
 * The right edge of a Merkle tree (its "compact range"): the roots of the perfect subtrees
 * that make up the leaves seen so far, largest first. Appending a leaf and computing the root
 * both cost O(log n), so the writer never re-reads the log to sign a checkpoint.
 *
 * @example
 * const tree = new MerkleAccumulator();
 * tree.append(hashLeafText("{}"));
 * tree.root(); // the RFC 6962 root of a one-leaf tree
 */
export class MerkleAccumulator {
  #size = 0;
  readonly #nodes: Uint8Array[] = [];
  readonly #heights: number[] = [];

  /** Number of leaves appended. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends one leaf hash (already hashed with {@link hashLeaf}). The hash is kept, not copied:
   * callers must not change it afterwards.
   */
  append(leafHash: Uint8Array): void {
    let node: Uint8Array = leafHash;
    let height = 0;
    // Merge equal-height subtrees: the binary carry of size + 1.
    while (this.#heights.length > 0 && this.#heights[this.#heights.length - 1] === height) {
      const left = this.#nodes.pop() as Uint8Array;
      this.#heights.pop();
      node = hashChildren(left, node);
      height++;
    }
    this.#nodes.push(node);
    this.#heights.push(height);
    this.#size++;
  }

  /**
   * Appends the root of a perfect subtree of 2^height leaves at once. Only valid when the
   * current size is a multiple of 2^height (the subtree then sits exactly on the right edge).
   */
  appendSubtree(root: Uint8Array, height: number): void {
    const width = 2 ** height;
    if (this.#size % width !== 0) throw new RangeError(`a subtree of ${width} leaves cannot start at ${this.#size}`);
    let node: Uint8Array = root;
    let h = height;
    while (this.#heights.length > 0 && this.#heights[this.#heights.length - 1] === h) {
      const left = this.#nodes.pop() as Uint8Array;
      this.#heights.pop();
      node = hashChildren(left, node);
      h++;
    }
    this.#nodes.push(node);
    this.#heights.push(h);
    this.#size += width;
  }

  /** The RFC 6962 root hash of the leaves appended so far. */
  root(): Buffer {
    const last = this.#nodes.length - 1;
    const top = this.#nodes[last];
    if (top === undefined) return EMPTY_ROOT;
    let root: Buffer = Buffer.from(top);
    for (let i = last - 1; i >= 0; i--) root = hashChildren(this.#nodes[i] as Uint8Array, root);
    return root;
  }

  /** An independent copy (the writer advances a copy and adopts it only after a commit). */
  clone(): MerkleAccumulator {
    const copy = new MerkleAccumulator();
    copy.#size = this.#size;
    copy.#nodes.push(...this.#nodes);
    copy.#heights.push(...this.#heights);
    return copy;
  }
}

/** The RFC 6962 root of a list of leaf hashes. */
export function rootOfLeaves(leafHashes: Iterable<Uint8Array>): Buffer {
  const tree = new MerkleAccumulator();
  for (const leaf of leafHashes) tree.append(leaf);
  return tree.root();
}

/** A half-open range of leaf indexes `[start, end)` whose subtree hash is one proof element. */
export type LeafRange = readonly [start: number, end: number];

/** Largest power of two strictly less than n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The subtrees whose hashes make the inclusion proof of leaf `index` in a tree of `size`
 * leaves, in proof order (RFC 9162 §2.1.3.1, PATH(m, D[n])).
 */
export function inclusionProofRanges(index: number, size: number): LeafRange[] {
  assertIndex(index, size);
  const ranges: LeafRange[] = [];
  const path = (m: number, start: number, end: number): void => {
    const n = end - start;
    if (n <= 1) return;
    const k = splitPoint(n);
    if (m < k) {
      path(m, start, start + k);
      ranges.push([start + k, end]);
    } else {
      path(m - k, start + k, end);
      ranges.push([start, start + k]);
    }
  };
  path(index, 0, size);
  return ranges;
}

/**
 * The subtrees whose hashes make the consistency proof between trees of `first` and `second`
 * leaves, in proof order (RFC 9162 §2.1.4.1, PROOF(m, D[n]) = SUBPROOF(m, D[n], true)).
 * Empty when `first` is 0 or equals `second`.
 */
export function consistencyProofRanges(first: number, second: number): LeafRange[] {
  assertSizes(first, second);
  const ranges: LeafRange[] = [];
  if (first === 0 || first === second) return ranges;
  const subproof = (m: number, start: number, end: number, complete: boolean): void => {
    const n = end - start;
    if (m === n) {
      if (!complete) ranges.push([start, end]);
      return;
    }
    const k = splitPoint(n);
    if (m <= k) {
      subproof(m, start, start + k, complete);
      ranges.push([start + k, end]);
    } else {
      subproof(m - k, start + k, end, false);
      ranges.push([start, start + k]);
    }
  };
  subproof(first, 0, second, true);
  return ranges;
}

/**
 * Reads the leaves `[0, size)` once, in index order, and returns the hash of each of the
 * disjoint `ranges` (proof elements) and the root of the tree at each of `rootSizes`. Holds only
 * O(log n) hashes at a time: the leaves are never all in memory.
 */
export async function scanTree(
  size: number,
  ranges: readonly LeafRange[],
  rootSizes: readonly number[],
  readLeaves: (from: number, to: number) => AsyncIterable<readonly { seq: number; leafHash: Uint8Array }[]>,
): Promise<{ ranges: Buffer[]; roots: Buffer[] }> {
  const order = ranges.map((range, i) => ({ range, i })).sort((a, b) => a.range[0] - b.range[0]);
  const rangeHashes = new Array<Buffer>(ranges.length);
  const roots = new Array<Buffer>(rootSizes.length);
  const whole = new MerkleAccumulator();
  const captureRoots = (): void => {
    rootSizes.forEach((s, i) => {
      if (s === whole.size) roots[i] = whole.root();
    });
  };
  let current = 0;
  let part: MerkleAccumulator | undefined;
  const advance = (index: number): void => {
    // Close ranges that end at `index`, open the one that starts there.
    for (;;) {
      const item = order[current];
      if (!item) return;
      const [start, end] = item.range;
      if (part && index === end) {
        rangeHashes[item.i] = part.root();
        part = undefined;
        current++;
        continue;
      }
      if (!part && index === start && start < end) part = new MerkleAccumulator();
      return;
    }
  };
  captureRoots();
  advance(0);
  for await (const page of readLeaves(0, size)) {
    for (const leaf of page) {
      if (leaf.seq !== whole.size) {
        throw new AuditError("audit-range-invalid", `record ${whole.size} is missing from the store; run \`gatehouse audit verify\``);
      }
      whole.append(leaf.leafHash);
      part?.append(leaf.leafHash);
      advance(whole.size);
      captureRoots();
    }
  }
  if (whole.size !== size) {
    throw new AuditError("audit-range-invalid", `record ${whole.size} is missing from the store; run \`gatehouse audit verify\``);
  }
  return { ranges: rangeHashes, roots };
}

/**
 * RFC 9162 §2.1.3.2: recomputes the root from an inclusion proof. Throws `audit-proof-invalid`
 * when the proof has the wrong length for (index, size) or the inputs are malformed.
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  // Index and size come from files an attacker may have written: check before any arithmetic.
  if (!isSize(index) || !isSize(size) || index >= size) {
    throw new AuditError("audit-proof-invalid", `leaf index ${String(index)} is not inside a tree of size ${String(size)}`);
  }
  assertHashes([leafHash, ...proof]);
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    if (sn === 0) throw new AuditError("audit-proof-invalid", "the inclusion proof is longer than the tree is deep");
    if (fn % 2 === 1 || fn === sn) {
      r = hashChildren(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0) throw new AuditError("audit-proof-invalid", "the inclusion proof is shorter than the tree is deep");
  return r;
}

/**
 * RFC 9162 §2.1.3.2: checks that `leafHash` is leaf `index` of the tree of `size` leaves whose
 * root is `root`. Throws `audit-proof-invalid` with the reason when it is not.
 *
 * @example
 * verifyInclusion(proof.index, proof.size, leafHash, proof.hashes, checkpoint.root);
 */
export function verifyInclusion(
  index: number,
  size: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  assertHashes([root]);
  const computed = rootFromInclusionProof(index, size, leafHash, proof);
  if (!computed.equals(root)) {
    throw new AuditError("audit-proof-invalid", "the inclusion proof does not lead to the expected root");
  }
}

/**
 * RFC 9162 §2.1.4.2: checks that the tree of `first` leaves with root `firstRoot` is a prefix of
 * the tree of `second` leaves with root `secondRoot`. Throws `audit-proof-invalid` otherwise.
 *
 * @example
 * verifyConsistency(old.size, next.size, proof.hashes, old.root, next.root);
 */
export function verifyConsistency(
  first: number,
  second: number,
  proof: readonly Uint8Array[],
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
): void {
  if (!isSize(first) || !isSize(second) || first > second) {
    throw new AuditError("audit-proof-invalid", `a tree of size ${String(first)} cannot grow into one of size ${String(second)}`);
  }
  if (first === second) {
    if (proof.length !== 0) throw new AuditError("audit-proof-invalid", "a proof between equal sizes must be empty");
    if (!Buffer.from(firstRoot).equals(secondRoot)) {
      throw new AuditError("audit-proof-invalid", "two trees of the same size have different roots");
    }
    return;
  }
  if (first === 0) {
    if (proof.length !== 0) throw new AuditError("audit-proof-invalid", "a proof from the empty tree must be empty");
    return;
  }
  // Step 1: an empty path cannot prove anything between different non-empty trees.
  if (proof.length === 0) throw new AuditError("audit-proof-invalid", "the consistency proof is empty");
  assertHashes([firstRoot, secondRoot, ...proof]);
  // Step 2: when `first` is a power of two, its root is itself the first node of the path.
  const path = isPowerOfTwo(first) ? [firstRoot, ...proof] : [...proof];
  // Steps 3-4.
  let fn = first - 1;
  let sn = second - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 5.
  let fr: Buffer = Buffer.from(path[0] as Uint8Array);
  let sr = fr;
  // Step 6.
  for (const c of path.slice(1)) {
    if (sn === 0) throw new AuditError("audit-proof-invalid", "the consistency proof is longer than the trees are deep");
    if (fn % 2 === 1 || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // Step 7.
  if (sn !== 0) throw new AuditError("audit-proof-invalid", "the consistency proof is shorter than the trees are deep");
  if (!fr.equals(firstRoot)) throw new AuditError("audit-proof-invalid", "the consistency proof does not lead to the first root");
  if (!sr.equals(secondRoot)) throw new AuditError("audit-proof-invalid", "the consistency proof does not lead to the second root");
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

function assertHashes(hashes: readonly Uint8Array[]): void {
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== 32) {
      throw new AuditError("audit-proof-invalid", "every hash in a proof must be 32 bytes (SHA-256)");
    }
  }
}

function assertIndex(index: number, size: number): void {
  if (!isSize(index) || !isSize(size) || index >= size) {
    throw new AuditError("audit-range-invalid", `index ${String(index)} is not inside a log of ${String(size)} records`);
  }
}

function assertSizes(first: number, second: number): void {
  if (!isSize(first) || !isSize(second) || first > second) {
    throw new AuditError("audit-range-invalid", `size ${String(first)} is not between 0 and ${String(second)}`);
  }
}

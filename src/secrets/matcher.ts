import { randomBytes } from "node:crypto";

/** Every pattern is at least this long (shorter ones would match ordinary text). */
export const MIN_LITERAL_LENGTH = 8;
/** Characters per sampled q-gram. */
const Q = 4;
/** Most offsets a pattern is indexed at, and so the longest sampling stride. */
const MAX_STRIDE = 29;
/** 2^22 filter bits (512 KiB): under 5% full with 6,000 patterns indexed at 29 offsets each. */
const FILTER_BITS_LOG = 22;
const FILTER_SHIFT = 32 - FILTER_BITS_LOG;

/** A pattern found in a text: `[start, end)` in the scanned text, and the pattern's label. */
export interface PatternHit {
  readonly start: number;
  readonly end: number;
  readonly label: number;
}

interface Entry {
  readonly pattern: string;
  readonly label: number;
  /** Where in the pattern the indexed q-gram starts. */
  readonly offset: number;
}

/**
 * Finds many literal patterns in one pass over a text, whatever their number: a sampled q-gram
 * filter (the block-hashing idea of Wu–Manber) with exact verification.
 *
 * Each pattern of length L is indexed by its 4-character q-grams at offsets 0 … min(L − 4, 28).
 * The scan reads one q-gram every `stride` characters, where `stride` = min(shortest L − 3, 29):
 * any occurrence then covers exactly one sampled q-gram at an indexed offset below `stride`.
 * Only where a 2^22-bit filter says "maybe" is the q-gram looked up and candidates compared
 * exactly. The cost per character does not grow with the number of patterns (issue 5: a
 * multi-pattern matcher, not one regex per secret), and longer secrets make the scan faster.
 *
 * Line breaks in the text are skipped, raw (`\r`, `\n`) or escaped as in JSON and source code
 * (`\\r`, `\\n`): the scan runs over {@link flattenLineBreaks} of the text and maps positions back,
 * so a value split across lines is found, also after the split text was JSON-encoded. Patterns
 * must be flattened the same way.
 *
 * The filter's hash multiplier is random per matcher: text crafted to collide with the filter
 * only slows the scan (every candidate is compared exactly, so a collision never causes a false
 * match), and an attacker who cannot predict the multiplier cannot craft it.
 *
 * Patterns may be added and removed at any time (minted tokens come and go).
 */
export class LiteralMatcher {
  private readonly filter = new Int32Array(1 << (FILTER_BITS_LOG - 5));
  private readonly table = new Map<number, Entry[]>();
  /** How many patterns there are of each length below MAX_STRIDE + Q (longer ones do not limit the stride). */
  private readonly shortLengths = new Int32Array(MAX_STRIDE + Q);
  private readonly multiplier = (randomBytes(4).readUInt32LE(0) | 1) >>> 0;
  /** Set by `remove`: the filter may have bits no pattern needs; rebuilt before the next scan. */
  private filterStale = false;
  private longest = 0;
  private entries = 0;

  /** How many patterns are registered. */
  get size(): number {
    return this.entries;
  }

  /** Length of the longest pattern registered so far (never shrinks). */
  get longestPattern(): number {
    return this.longest;
  }

  /** Registers `pattern` under `label`. Throws on a pattern shorter than 8 characters or holding a line break. */
  add(pattern: string, label: number): void {
    assertPattern(pattern);
    const offsets = indexedOffsets(pattern.length);
    let added = false;
    for (let offset = 0; offset < offsets; offset++) {
      const key = qgramOfString(pattern, offset);
      const list = this.table.get(key);
      if (list?.some((e) => e.pattern === pattern && e.label === label && e.offset === offset)) continue;
      added = true;
      if (list) list.push({ pattern, label, offset });
      else this.table.set(key, [{ pattern, label, offset }]);
      const slot = this.slot(key);
      this.filter[slot >>> 5]! |= 1 << (slot & 31);
    }
    if (!added) return;
    this.entries++;
    if (pattern.length < this.shortLengths.length) this.shortLengths[pattern.length]!++;
    if (pattern.length > this.longest) this.longest = pattern.length;
  }

  /** Removes a pattern added with `label`; unknown pairs are ignored. */
  remove(pattern: string, label: number): void {
    if (pattern.length < MIN_LITERAL_LENGTH) return;
    const offsets = indexedOffsets(pattern.length);
    let removed = false;
    for (let offset = 0; offset < offsets; offset++) {
      const key = qgramOfString(pattern, offset);
      const list = this.table.get(key);
      const index = list?.findIndex((e) => e.pattern === pattern && e.label === label && e.offset === offset) ?? -1;
      if (!list || index < 0) continue;
      removed = true;
      list.splice(index, 1);
      if (list.length === 0) this.table.delete(key);
    }
    if (!removed) return;
    this.entries--;
    this.filterStale = true;
    if (pattern.length < this.shortLengths.length) this.shortLengths[pattern.length]!--;
  }

  /**
   * Calls `onHit` for every occurrence of every pattern in `text` (overlapping ones included).
   * Positions are in `text`; a hit that spans line breaks includes them.
   */
  scan(text: string, onHit: (hit: PatternHit) => void): void {
    if (this.entries === 0 || text.length < MIN_LITERAL_LENGTH) return;
    if (this.filterStale) this.rebuildFilter();
    const hasBreaks = text.includes("\n") || text.includes("\r") || text.includes("\\n") || text.includes("\\r");
    const flat = hasBreaks ? flattenLineBreaks(text) : text;
    const hits: PatternHit[] = [];
    this.scanFlat(flat, this.stride(), hits);
    if (hits.length === 0) return;
    if (!hasBreaks) {
      for (const hit of hits) onHit(hit);
      return;
    }
    const map = breakMap(text);
    for (const hit of hits) {
      onHit({ start: map.toOriginal(hit.start), end: map.toOriginal(hit.end - 1) + 1, label: hit.label });
    }
  }

  private scanFlat(flat: string, stride: number, hits: PatternHit[]): void {
    const { filter, table, multiplier } = this;
    const last = flat.length - Q;
    for (let p = 0; p <= last; p += stride) {
      // The low byte of each UTF-16 unit, as qgramOfString takes it: the filter only has to agree
      // with itself; the exact comparison below runs on the string.
      const key =
        (flat.charCodeAt(p) & 0xff) |
        ((flat.charCodeAt(p + 1) & 0xff) << 8) |
        ((flat.charCodeAt(p + 2) & 0xff) << 16) |
        ((flat.charCodeAt(p + 3) & 0xff) << 24);
      const slot = Math.imul(key, multiplier) >>> FILTER_SHIFT;
      if ((filter[slot >>> 5]! & (1 << (slot & 31))) === 0) continue;
      const candidates = table.get(key);
      if (candidates === undefined) continue;
      for (const entry of candidates) {
        // Offsets at or past the stride belong to another sample of the same occurrence.
        if (entry.offset >= stride) continue;
        const start = p - entry.offset;
        if (start >= 0 && flat.startsWith(entry.pattern, start)) {
          hits.push({ start, end: start + entry.pattern.length, label: entry.label });
        }
      }
    }
  }

  /** The sampling stride: min(shortest pattern − 3, 29). */
  private stride(): number {
    for (let length = MIN_LITERAL_LENGTH; length < this.shortLengths.length; length++) {
      if (this.shortLengths[length]! > 0) return length - Q + 1;
    }
    return MAX_STRIDE;
  }

  private rebuildFilter(): void {
    this.filter.fill(0);
    for (const key of this.table.keys()) {
      const slot = this.slot(key);
      this.filter[slot >>> 5]! |= 1 << (slot & 31);
    }
    this.filterStale = false;
  }

  private slot(key: number): number {
    return Math.imul(key, this.multiplier) >>> FILTER_SHIFT;
  }
}

/** How many offsets a pattern of `length` is indexed at. */
function indexedOffsets(length: number): number {
  return Math.min(length - Q + 1, MAX_STRIDE);
}

/**
 * The text with line breaks removed: `\r`, `\n`, and the escapes `\\r`, `\\n`, in one pass from
 * left to right. The matcher and the patterns use this same function, so they agree.
 */
export function flattenLineBreaks(text: string): string {
  if (!text.includes("\\")) return text.replaceAll("\r", "").replaceAll("\n", "");
  return text.replace(/\\[rn]|[\r\n]/g, "");
}

function assertPattern(pattern: string): void {
  if (pattern.length < MIN_LITERAL_LENGTH) throw new RangeError(`a pattern must be at least ${MIN_LITERAL_LENGTH} characters long`);
  // Flattening is not idempotent (`\\\\nn` → `\\n`), so only raw line breaks are refused here.
  if (/[\r\n]/.test(pattern)) throw new RangeError("a pattern must not contain line breaks");
}

function qgramOfString(text: string, at: number): number {
  return (
    (text.charCodeAt(at) & 0xff) |
    ((text.charCodeAt(at + 1) & 0xff) << 8) |
    ((text.charCodeAt(at + 2) & 0xff) << 16) |
    ((text.charCodeAt(at + 3) & 0xff) << 24)
  );
}

/** Maps positions in {@link flattenLineBreaks} of `text` back to positions in `text`. */
function breakMap(text: string): { toOriginal(flatIndex: number): number } {
  // After each removed run: the flat index of the next kept character, and how many were removed
  // before it. The regex removes what flattenLineBreaks removes, in the same left-to-right order.
  const keptAt: number[] = [];
  const removedBefore: number[] = [];
  let removed = 0;
  const runs = /(?:\\[rn]|[\r\n])+/g;
  for (let m = runs.exec(text); m !== null; m = runs.exec(text)) {
    removed += m[0].length;
    keptAt.push(m.index + m[0].length - removed);
    removedBefore.push(removed);
  }
  return {
    toOriginal(flatIndex: number): number {
      let lo = 0;
      let hi = keptAt.length - 1;
      let found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        if (keptAt[mid]! <= flatIndex) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      return flatIndex + (found < 0 ? 0 : removedBefore[found]!);
    },
  };
}

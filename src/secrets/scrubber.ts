import { StringDecoder } from "node:string_decoder";
import { Transform } from "node:stream";
import { SecretError } from "./errors.js";
import { LiteralMatcher } from "./matcher.js";
import { RuleScanner } from "./rule-scanner.js";
import { DEFAULT_RULES, type PatternRule } from "./rules.js";
import { variantsOf, type Encoding } from "./variants.js";

/** One thing the scrubber replaced. Holds the handle or rule id and where it was, never the value. */
export interface Finding {
  /** `secret`: a value Gatehouse knows; `pattern`: a vendor pattern rule. */
  readonly kind: "secret" | "pattern";
  /** The handle (for `secret`) or the rule id (for `pattern`). */
  readonly label: string;
  /** In which form a known value was found. */
  readonly encoding?: Encoding;
  readonly start: number;
  readonly end: number;
}

/** The scrubbed text and what was replaced in it. */
export interface ScrubResult {
  readonly text: string;
  readonly findings: readonly Finding[];
}

/** Scrubs a stream piece by piece; see {@link Scrubber.createChunkScrubber}. */
export interface ChunkScrubber {
  /** Takes the next piece; returns the scrubbed text that is safe to release so far (maybe empty). */
  write(chunk: string): string;
  /** Ends the stream; returns the scrubbed rest. */
  end(): string;
}

/**
 * The one scrubber every tool output, error, log line and audit record passes before it leaves
 * Gatehouse (DESIGN.md: "every output, error and log line passes the scrubber before it leaves").
 */
export interface Scrubber {
  /** Replaces known values (in every encoding) and vendor patterns; reports what it replaced. */
  scrub(text: string): ScrubResult;
  /** `scrub(text).text`. Throws `SecretError` (`scrub-input-invalid`) for a non-string. */
  scrubText(text: string): string;
  /**
   * A scrubbed copy of a structured value: strings anywhere in objects, arrays, maps and sets,
   * object keys too, numbers whose digits are a secret, errors' messages, stacks and causes. Cycles become
   * `"[Circular]"`; nesting deeper than 100 levels becomes `{{redacted:too-deep}}` (never passed
   * through unscrubbed).
   */
  scrubValue(value: unknown): unknown;
  /** A scrubber for a stream of text pieces that never misses a value straddling two pieces. */
  createChunkScrubber(): ChunkScrubber;
  /** A Node `Transform` over {@link createChunkScrubber}; accepts strings or UTF-8 bytes. */
  createScrubStream(): Transform;
  /** How many known values the scrubber looks for. */
  readonly knownValues: number;
}

/** A scrubber whose set of known values can change (the broker's view). */
export interface MutableScrubber extends Scrubber {
  /** Starts looking for `value` (in every encoding) and naming it `label` in markers. */
  addSecret(label: string, value: string): void;
  /** Stops looking for a value added under `label`. */
  removeSecret(label: string, value: string): void;
}

/** Options of {@link createScrubber}. */
export interface ScrubberOptions {
  /** Known values to look for from the start. */
  readonly secrets?: readonly { readonly label: string; readonly value: string }[];
  /** Pattern rules; the built-in set when omitted. */
  readonly rules?: readonly PatternRule[];
  /** Ids of rules to switch off. */
  readonly disableRules?: readonly string[];
  /** Switch on generic entropy rules (off by default: the main source of false alarms). */
  readonly genericEntropy?: boolean;
}

/** What replaces a known value: the handle, never the value. */
export function secretMarker(label: string): string {
  return `{{secret:${label}}}`;
}

/** What replaces a vendor-pattern match. */
export function patternMarker(ruleId: string): string {
  return `{{redacted:${ruleId}}}`;
}

const MAX_DEPTH = 100;

interface Range {
  start: number;
  end: number;
  markers: string[];
}

/**
 * Builds a scrubber. The literal matcher and the rule automaton are built once here; each scan
 * is one pass per length class of known values plus one pass for rule keywords.
 *
 * @example
 * const scrubber = createScrubber({ secrets: [{ label: "stripe_key", value: process.env.STRIPE_KEY! }] });
 * scrubber.scrubText(`key=${process.env.STRIPE_KEY}`) // "key={{secret:stripe_key}}"
 */
export function createScrubber(options: ScrubberOptions = {}): MutableScrubber {
  const disabled = new Set(options.disableRules ?? []);
  const rules = (options.rules ?? DEFAULT_RULES).filter(
    (rule) => !disabled.has(rule.id) && (rule.generic !== true || options.genericEntropy === true),
  );
  const unknownDisabled = [...disabled].filter((id) => !(options.rules ?? DEFAULT_RULES).some((r) => r.id === id));
  if (unknownDisabled.length > 0) {
    throw new SecretError("secrets-config-invalid", `unknown scrub rule \`${unknownDisabled[0]}\` in \`disableRules\``, {
      help: `rules: ${(options.rules ?? DEFAULT_RULES).map((r) => r.id).join(", ")}`,
    });
  }
  const scanner = new RuleScanner(rules);
  const matcher = new LiteralMatcher();
  /** Matcher label → what it stands for (entries go when their value is removed: minted tokens come and go). */
  const labels = new Map<number, { label: string; encoding: Encoding }>();
  let nextLabel = 0;
  /** `label\0value` → matcher labels and patterns, to remove them again. */
  const registered = new Map<string, { pattern: string; index: number }[]>();

  function addSecret(label: string, value: string): void {
    const key = `${label}\0${value}`;
    if (registered.has(key)) return;
    const entries: { pattern: string; index: number }[] = [];
    for (const variant of variantsOf(value)) {
      const index = nextLabel++;
      labels.set(index, { label, encoding: variant.encoding });
      matcher.add(variant.text, index);
      entries.push({ pattern: variant.text, index });
    }
    registered.set(key, entries);
  }

  function removeSecret(label: string, value: string): void {
    const key = `${label}\0${value}`;
    for (const { pattern, index } of registered.get(key) ?? []) {
      matcher.remove(pattern, index);
      labels.delete(index);
    }
    registered.delete(key);
  }

  for (const secret of options.secrets ?? []) addSecret(secret.label, secret.value);

  function findings(text: string): Finding[] {
    const found: Finding[] = [];
    matcher.scan(text, (hit) => {
      const meta = labels.get(hit.label)!;
      found.push({ kind: "secret", label: meta.label, encoding: meta.encoding, start: hit.start, end: hit.end });
    });
    scanner.scan(text, (hit) => {
      found.push({ kind: "pattern", label: rules[hit.rule]!.id, start: hit.start, end: hit.end });
    });
    return found;
  }

  function scrub(text: string): ScrubResult {
    if (typeof text !== "string") {
      throw new SecretError("scrub-input-invalid", `the scrubber takes text, got ${describeType(text)}`, {
        help: "use scrubValue for structured values",
      });
    }
    const found = findings(text);
    if (found.length === 0) return { text, findings: found };
    return { text: applyRanges(text, mergeRanges(found), text.length), findings: found };
  }

  function scrubText(text: string): string {
    return scrub(text).text;
  }

  function scrubValue(value: unknown): unknown {
    return walk(value, 0, new Set());
  }

  function walk(value: unknown, depth: number, seen: Set<object>): unknown {
    switch (typeof value) {
      case "string":
        return scrubText(value);
      case "number":
      case "bigint": {
        const text = String(value);
        const result = scrub(text);
        return result.findings.length > 0 ? result.text : value;
      }
      case "object":
        break;
      case "boolean":
      case "undefined":
      case "function":
      case "symbol":
        return value;
    }
    if (value === null) return value;
    if (depth >= MAX_DEPTH) return patternMarker("too-deep");
    if (seen.has(value)) return "[Circular]";
    seen.add(value);
    try {
      if (value instanceof Date) return value;
      if (value instanceof Uint8Array) {
        const result = scrub(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("utf8"));
        return result.findings.length > 0 ? result.text : value;
      }
      if (value instanceof Error) {
        const copy = new Error(scrubText(value.message));
        copy.name = scrubText(value.name);
        copy.stack = value.stack === undefined ? undefined : scrubText(value.stack);
        const code = (value as { code?: unknown }).code;
        if (code !== undefined) (copy as { code?: unknown }).code = walk(code, depth + 1, seen);
        if (value.cause !== undefined) copy.cause = walk(value.cause, depth + 1, seen);
        return copy;
      }
      if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1, seen));
      if (value instanceof Map) {
        return new Map([...value].map(([k, v]) => [walk(k, depth + 1, seen), walk(v, depth + 1, seen)]));
      }
      if (value instanceof Set) return new Set([...value].map((item) => walk(item, depth + 1, seen)));
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") return walk((toJSON as () => unknown).call(value), depth + 1, seen);
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        let name = scrubText(key);
        for (let n = 2; Object.prototype.hasOwnProperty.call(out, name); n++) name = `${scrubText(key)}#${n}`;
        // defineProperty: a key named `__proto__` (JSON.parse makes such keys) stays a key.
        Object.defineProperty(out, name, { value: walk(item, depth + 1, seen), enumerable: true, writable: true, configurable: true });
      }
      return out;
    } finally {
      seen.delete(value);
    }
  }

  function createChunkScrubber(): ChunkScrubber {
    let carry = "";
    return {
      write(chunk: string): string {
        if (typeof chunk !== "string") {
          throw new SecretError("scrub-input-invalid", `a stream piece must be text, got ${describeType(chunk)}`);
        }
        const buffer = carry + chunk;
        let release = Math.min(safeEnd(buffer, matcher.longestPattern), buffer.length - scanner.maxLength);
        if (release <= 0) {
          carry = buffer;
          return "";
        }
        const ranges = mergeRanges(findings(buffer));
        // A match that straddles the release point is held back whole and found again next time.
        for (const range of ranges) {
          if (range.start < release && range.end > release) release = range.start;
        }
        carry = buffer.slice(release);
        return applyRanges(buffer, ranges, release);
      },
      end(): string {
        const rest = carry;
        carry = "";
        return scrubText(rest);
      },
    };
  }

  function createScrubStream(): Transform {
    const session = createChunkScrubber();
    const decoder = new StringDecoder("utf8");
    return new Transform({
      decodeStrings: false,
      transform(chunk: unknown, _encoding, callback) {
        try {
          const text = typeof chunk === "string" ? chunk : decoder.write(chunk as Buffer);
          const out = session.write(text);
          callback(null, out.length > 0 ? out : undefined);
        } catch (error) {
          callback(error as Error);
        }
      },
      flush(callback) {
        try {
          const out = session.write(decoder.end()) + session.end();
          callback(null, out.length > 0 ? out : undefined);
        } catch (error) {
          callback(error as Error);
        }
      },
    });
  }

  return {
    scrub,
    scrubText,
    scrubValue,
    createChunkScrubber,
    createScrubStream,
    addSecret,
    removeSecret,
    get knownValues() {
      return registered.size;
    },
  };
}

/**
 * The last position of `text` that no unfinished known-value match can reach back before: the
 * tail holding the last `longest − 1` non-line-break characters (line breaks are skipped inside
 * matches, so they do not count towards a match's length) must wait for the next piece.
 */
function safeEnd(text: string, longest: number): number {
  if (longest === 0) return text.length;
  let needed = longest - 1;
  let i = text.length;
  while (i > 0 && needed > 0) {
    const skipped = lineBreakBefore(text, i);
    if (skipped > 0) {
      i -= skipped;
      continue;
    }
    needed--;
    i--;
  }
  // Line breaks just before the tail may belong to a match that starts earlier.
  for (let skipped = lineBreakBefore(text, i); skipped > 0; skipped = lineBreakBefore(text, i)) i -= skipped;
  return needed > 0 ? 0 : i;
}

/** Length of the line break (raw, or escaped as `\\n`/`\\r`) ending at `i`, or 0. */
function lineBreakBefore(text: string, i: number): number {
  if (i <= 0) return 0;
  const c = text.charCodeAt(i - 1);
  if (c === 10 || c === 13) return 1;
  if ((c === 110 || c === 114) && i >= 2 && text.charCodeAt(i - 2) === 92) return 2;
  return 0;
}

function mergeRanges(found: readonly Finding[]): Range[] {
  const sorted = [...found].sort((a, b) => a.start - b.start || b.end - a.end);
  const ranges: Range[] = [];
  for (const f of sorted) {
    const marker = f.kind === "secret" ? secretMarker(f.label) : patternMarker(f.label);
    const last = ranges[ranges.length - 1];
    if (last && f.start < last.end) {
      last.end = Math.max(last.end, f.end);
      if (!last.markers.includes(marker)) last.markers.push(marker);
    } else {
      ranges.push({ start: f.start, end: f.end, markers: [marker] });
    }
  }
  // Where a known value and a pattern overlap, the handle says more than the rule id.
  for (const range of ranges) {
    if (range.markers.length > 1 && range.markers.some((m) => m.startsWith("{{secret:"))) {
      range.markers = range.markers.filter((m) => m.startsWith("{{secret:"));
    }
  }
  return ranges;
}

/** `text[0, upTo)` with every range inside it replaced by its markers. */
function applyRanges(text: string, ranges: readonly Range[], upTo: number): string {
  const parts: string[] = [];
  let at = 0;
  for (const range of ranges) {
    if (range.start >= upTo) break;
    parts.push(text.slice(at, range.start), range.markers.join(""));
    at = range.end;
  }
  if (at < upTo) parts.push(text.slice(at, upTo));
  return parts.join("");
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return `a ${typeof value}`;
}

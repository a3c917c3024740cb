import { canonicalJson, sha256Hex, type AuditEvent, type AuditOutcome } from "../core/index.js";
import { AuditError } from "./errors.js";

/** Version of the record format; `verify` refuses records of another version. */
export const RECORD_VERSION = 1;

/** Where a value passed to the redaction hook comes from. */
export type RedactField = "args" | "result" | "error" | "reasons" | "approval";

/**
 * The redaction hook: gets each free-form value before it is written and returns what may be
 * stored (the secrets scrubber plugs in here). It must not return the value's secrets in any
 * form; if it throws, the event is refused and the Gate denies, so nothing unredacted is written.
 */
export type Redactor = (value: unknown, field: RedactField) => unknown;

/** A result too large to store in full: its size, its SHA-256 and its first bytes. */
export interface TruncatedResult {
  /** Size in bytes of the result's canonical JSON (after redaction). */
  readonly bytes: number;
  /** SHA-256 (hex) of the result's canonical JSON (after redaction). */
  readonly sha256: string;
  /** The first `maxResultBytes` bytes of that JSON. */
  readonly preview: string;
}

/** An outcome as stored: the result is either in full or truncated. */
export interface StoredOutcome extends AuditOutcome {
  readonly resultTruncated?: TruncatedResult;
}

/** An event as stored, after redaction and truncation. */
export interface StoredEvent extends Omit<AuditEvent, "outcome"> {
  readonly outcome?: StoredOutcome;
}

/** One audit record: the leaf of the Merkle tree is its canonical JSON (RFC 8785). */
export interface AuditRecord {
  readonly v: typeof RECORD_VERSION;
  /** Position in the log, from 0. */
  readonly seq: number;
  /** Leaf hash (hex) of the previous record; absent for record 0. Names a removed or changed predecessor. */
  readonly prev?: string;
  /** ISO 8601 time the log accepted the event. */
  readonly logged: string;
  readonly event: StoredEvent;
}

/** How events are prepared for storage. */
export interface EncodeOptions {
  readonly redact?: Redactor;
  readonly maxResultBytes: number;
}

/**
 * Validates an event, applies the redaction hook and the result size limit, and returns the
 * event's canonical JSON. Throws `audit-event-invalid` or `audit-redact-failed`.
 */
export function encodeEvent(event: AuditEvent, options: EncodeOptions): string {
  assertEventShape(event);
  // Shallow copies only where fields are replaced: the caller's event is never changed.
  const plain: Record<string, unknown> = { ...(toJsonValue(event) as Record<string, unknown>) };
  const redact = options.redact;
  let decision = plain.decision as Record<string, unknown> | undefined;
  let outcome = plain.outcome as Record<string, unknown> | undefined;
  if (redact) {
    if (plain.args !== undefined) plain.args = runRedact(redact, plain.args, "args");
    // An approval step carries free text too (the approver's reason).
    if (plain.approval !== undefined) plain.approval = runRedact(redact, plain.approval, "approval");
    if (decision?.reasons !== undefined) {
      decision = { ...decision, reasons: runRedact(redact, decision.reasons, "reasons") };
      plain.decision = decision;
    }
    if (outcome && (outcome.result !== undefined || outcome.error !== undefined)) {
      outcome = { ...outcome };
      if (outcome.result !== undefined) outcome.result = runRedact(redact, outcome.result, "result");
      if (outcome.error !== undefined) outcome.error = runRedact(redact, outcome.error, "error");
      plain.outcome = outcome;
    }
  }
  if (outcome?.result !== undefined) {
    const json = canonical(outcome.result, "outcome.result");
    const bytes = Buffer.byteLength(json, "utf8");
    if (bytes > options.maxResultBytes) {
      const truncated: TruncatedResult = { bytes, sha256: sha256Hex(json), preview: utf8Prefix(json, options.maxResultBytes) };
      const stored: Record<string, unknown> = { ...outcome, resultTruncated: truncated };
      delete stored.result;
      plain.outcome = stored;
    }
  }
  return canonical(plain, "event");
}

/**
 * Builds the record text from an already canonical event. The keys are written in RFC 8785
 * order (event, logged, prev, seq, v) and the other values are ASCII strings and integers, so
 * the result is the canonical JSON of the record without re-encoding the event.
 */
export function encodeRecord(eventJson: string, seq: number, prev: string | undefined, logged: string): string {
  const prevPart = prev === undefined ? "" : `,"prev":"${prev}"`;
  return `{"event":${eventJson},"logged":${JSON.stringify(logged)}${prevPart},"seq":${seq},"v":${RECORD_VERSION}}`;
}

/**
 * Parses a stored record for reading (export, tail). Throws `audit-store-corrupt` when the text
 * is not a record of this version: run `verify` to find out what happened to it.
 */
export function decodeRecord(text: string, seq: number): AuditRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw corrupt(seq, "is not valid JSON");
  }
  if (typeof value !== "object" || value === null) throw corrupt(seq, "is not a JSON object");
  const record = value as Partial<AuditRecord>;
  if (record.v !== RECORD_VERSION) throw corrupt(seq, `has record version ${String(record.v)}, expected ${RECORD_VERSION}`);
  if (typeof record.event !== "object" || record.event === null) throw corrupt(seq, "has no event");
  if (typeof record.logged !== "string" || typeof record.seq !== "number") throw corrupt(seq, "lacks its seq or logged time");
  return record as AuditRecord;
}

function corrupt(seq: number, what: string): AuditError {
  return new AuditError("audit-store-corrupt", `record ${seq} ${what}; run \`gatehouse audit verify\``);
}

function assertEventShape(event: AuditEvent): void {
  const e = event as unknown as Record<string, unknown> | null;
  if (typeof e !== "object" || e === null) throw new AuditError("audit-event-invalid", "an audit event must be an object");
  for (const field of ["type", "time", "action", "tool"] as const) {
    const value = e[field];
    if (typeof value !== "string" || value.length === 0) {
      throw new AuditError("audit-event-invalid", `audit event field \`${field}\` must be a non-empty string`);
    }
  }
  if (e.type !== "decision" && e.type !== "outcome" && e.type !== "approval") {
    throw new AuditError("audit-event-invalid", `audit event type \`${String(e.type)}\` is not \`decision\`, \`outcome\` or \`approval\``);
  }
}

/**
 * JSON semantics (toJSON, undefined properties dropped); refuses BigInt and cycles. Values that
 * are already plain JSON (the usual case) are returned as they are, without a copy: events are
 * on the Gate's hot path.
 */
function toJsonValue(value: unknown): unknown {
  if (isPlainJson(value, 0)) return value;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new AuditError("audit-event-invalid", `the audit event has no JSON form: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  return text === undefined ? undefined : JSON.parse(text);
}

function runRedact(redact: Redactor, value: unknown, field: RedactField): unknown {
  let out: unknown;
  try {
    out = redact(value, field);
  } catch (error) {
    // Fail closed: an unredacted value must never reach the store.
    throw new AuditError("audit-redact-failed", `the redaction hook failed on \`${field}\`: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  return toJsonValue(out);
}

function canonical(value: unknown, where: string): string {
  try {
    return canonicalJson(value);
  } catch (error) {
    throw new AuditError("audit-event-invalid", `audit ${where} has no canonical JSON form: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
}

function utf8Prefix(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, "utf8");
  if (buf.length <= maxBytes) return text;
  const cut = buf.subarray(0, maxBytes).toString("utf8");
  // A multi-byte character cut in half decodes as U+FFFD; drop it.
  return cut.endsWith("\uFFFD") ? cut.slice(0, -1) : cut;
}

/** True when `value` is made only of null, booleans, strings, finite numbers, arrays and plain objects. */
function isPlainJson(value: unknown, depth: number): boolean {
  if (depth > 64) return false;
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      if ("toJSON" in value) return false;
      for (const key in value) {
        if (!isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

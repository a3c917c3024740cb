import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex, type AuditEvent } from "../core/index.js";
import { decodeRecord, encodeEvent, encodeRecord } from "./record.js";

const base: AuditEvent = { type: "decision", time: "2026-01-31T12:00:00.000Z", action: "a1", tool: "send_email" };

describe("audit records", () => {
  it("builds exactly the RFC 8785 canonical JSON of the record", () => {
    const event = { ...base, args: { to: ["x@example.com"], n: 1.5, "é": "\u2028" } };
    const eventJson = encodeEvent(event, { maxResultBytes: 100 });
    const prev = "ab".repeat(32);
    const text = encodeRecord(eventJson, 7, prev, "2026-01-31T12:00:01.000Z");
    expect(text).toBe(canonicalJson({ v: 1, seq: 7, prev, logged: "2026-01-31T12:00:01.000Z", event: JSON.parse(eventJson) }));
    expect(encodeRecord(eventJson, 0, undefined, "t")).toBe(canonicalJson({ v: 1, seq: 0, logged: "t", event: JSON.parse(eventJson) }));
  });

  it("drops undefined fields the way JSON does", () => {
    const json = encodeEvent({ ...base, agent: undefined, args: { a: undefined, b: 1 } }, { maxResultBytes: 100 });
    expect(JSON.parse(json)).toEqual({ ...base, args: { b: 1 } });
  });

  it("passes args, reasons, results and errors through the redaction hook before encoding", () => {
    const seen: string[] = [];
    const json = encodeEvent(
      {
        ...base,
        args: { token: "sk-secret" },
        decision: { verdict: "deny", code: "denied-by-rule", rules: ["r"], reasons: ["token sk-secret refused"] },
        outcome: { status: "error", result: "sk-secret", error: "bad sk-secret" },
      },
      {
        maxResultBytes: 1000,
        redact: (value, field) => {
          seen.push(field);
          return JSON.parse(JSON.stringify(value).replaceAll("sk-secret", "[redacted]")) as unknown;
        },
      },
    );
    expect(json).not.toContain("sk-secret");
    expect(seen.sort()).toEqual(["args", "error", "reasons", "result"]);
  });

  it("refuses the event when the redaction hook throws (nothing unredacted is written)", () => {
    expect(() =>
      encodeEvent({ ...base, args: { token: "sk-secret" } }, {
        maxResultBytes: 10,
        redact: () => {
          throw new Error("scrubber down");
        },
      }),
    ).toThrow(expect.objectContaining({ code: "audit-redact-failed", message: expect.stringContaining("scrubber down") }));
  });

  it("stores a result over the limit truncated, with the SHA-256 of its full canonical JSON", () => {
    const result = { rows: Array.from({ length: 50 }, (_, i) => ({ id: i, name: `row ${i} ✓` })) };
    const json = encodeEvent({ ...base, type: "outcome", outcome: { status: "ok", result } }, { maxResultBytes: 64 });
    const stored = JSON.parse(json) as { outcome: { result?: unknown; resultTruncated: { bytes: number; sha256: string; preview: string } } };
    const full = canonicalJson(result);
    expect(stored.outcome.result).toBeUndefined();
    expect(stored.outcome.resultTruncated.sha256).toBe(sha256Hex(full));
    expect(stored.outcome.resultTruncated.bytes).toBe(Buffer.byteLength(full));
    expect(Buffer.byteLength(stored.outcome.resultTruncated.preview)).toBeLessThanOrEqual(64);
    expect(full.startsWith(stored.outcome.resultTruncated.preview)).toBe(true);
  });

  it("stores a result at the limit in full", () => {
    const json = encodeEvent({ ...base, type: "outcome", outcome: { status: "ok", result: "x".repeat(8) } }, { maxResultBytes: 10 });
    expect(JSON.parse(json)).toMatchObject({ outcome: { result: "xxxxxxxx" } });
  });

  it.each([
    ["a missing tool", { ...base, tool: "" }, /`tool` must be a non-empty string/],
    ["an unknown type", { ...base, type: "other" }, /is not `decision`, `outcome` or `approval`/],
    ["a BigInt argument", { ...base, args: { n: 1n } }, /no JSON form/],
    ["a cyclic argument", (() => {
      const a: Record<string, unknown> = {};
      a.self = a;
      return { ...base, args: a };
    })(), /no JSON form/],
  ])("refuses an event with %s", (_name, event, message) => {
    expect(() => encodeEvent(event as AuditEvent, { maxResultBytes: 10 })).toThrow(message);
  });

  it("reads a record back and refuses one of another version", () => {
    const text = encodeRecord(encodeEvent(base, { maxResultBytes: 10 }), 3, undefined, "t");
    expect(decodeRecord(text, 3).event.tool).toBe("send_email");
    expect(() => decodeRecord(text.replace('"v":1', '"v":2'), 3)).toThrow(/record 3 has record version 2/);
    expect(() => decodeRecord("{not json", 4)).toThrow(/record 4 is not valid JSON/);
  });
});

describe("encoding never changes the caller's event", () => {
  it("leaves the event untouched when redacting and truncating", () => {
    const event: AuditEvent = {
      ...base,
      type: "outcome",
      args: { token: "t" },
      decision: { verdict: "allow", code: "allowed-by-rule", rules: [], reasons: ["t"] },
      outcome: { status: "ok", result: "x".repeat(100), error: "t" },
    };
    const before = structuredClone(event);
    encodeEvent(event, { maxResultBytes: 10, redact: () => "[r]" });
    expect(event).toEqual(before);
  });
});

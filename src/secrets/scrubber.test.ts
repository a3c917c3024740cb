import { describe, expect, it } from "vitest";
import { SecretError } from "./errors.js";
import { createScrubber, secretMarker } from "./scrubber.js";

const KEY = "tok_live_4f9a8b7c6d5e";
const PIN = "31415926535";

function scrubber() {
  const s = createScrubber({ rules: [] });
  s.addSecret("api_key", KEY);
  s.addSecret("pin", PIN);
  return s;
}

describe("scrubbing structured values", () => {
  it("walks objects, arrays, maps and sets, keys included", () => {
    const value = {
      [KEY]: "as a key",
      nested: [{ deep: { deeper: `x ${KEY} y` } }],
      map: new Map([[KEY, KEY]]),
      set: new Set([KEY]),
      bytes: Buffer.from(`raw ${KEY}`),
      when: new Date(0),
      ok: true,
      none: null,
    };
    const out = scrubber().scrubValue(value) as Record<string, unknown>;
    expect(JSON.stringify(out, (_k, v: unknown) => (v instanceof Map ? [...v] : v instanceof Set ? [...v] : v))).not.toContain(KEY);
    expect(Object.keys(out)).toContain(secretMarker("api_key"));
    expect(out.bytes).toBe(`raw ${secretMarker("api_key")}`);
    expect(out.when).toEqual(new Date(0));
    expect(out.ok).toBe(true);
  });

  it("keeps a `__proto__` key from parsed JSON as a key, scrubbed", () => {
    const parsed: unknown = JSON.parse(`{"__proto__": {"k": "${KEY}"}}`);
    const out = scrubber().scrubValue(parsed) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(JSON.stringify(out)).toBe(`{"__proto__":{"k":"${secretMarker("api_key")}"}}`);
  });

  it("replaces a number whose digits are a secret", () => {
    expect(scrubber().scrubValue({ account: 31415926535, other: 42 })).toEqual({ account: secretMarker("pin"), other: 42 });
  });

  it("keeps two keys apart when both scrub to the same marker", () => {
    const s = createScrubber({ rules: [] });
    s.addSecret("a", "first-secret-1");
    s.addSecret("a", "second-secret-2");
    expect(Object.keys(s.scrubValue({ "first-secret-1": 1, "second-secret-2": 2 }) as object)).toEqual(["{{secret:a}}", "{{secret:a}}#2"]);
  });

  it("scrubs an error's message and stack and keeps it an Error", () => {
    const error = new Error(`failed with ${KEY}`, { cause: new Error(`inner ${KEY}`) });
    const out = scrubber().scrubValue(error) as Error;
    expect(out).toBeInstanceOf(Error);
    expect(out.message).toBe(`failed with ${secretMarker("api_key")}`);
    expect(out.stack).not.toContain(KEY);
    expect((out.cause as Error).message).toBe(`inner ${secretMarker("api_key")}`);
  });

  it("uses toJSON when a value has one, as JSON.stringify would", () => {
    expect(scrubber().scrubValue({ toJSON: () => ({ k: KEY }) })).toEqual({ k: secretMarker("api_key") });
  });

  it("survives cycles and refuses to pass too-deep values through unscrubbed", () => {
    const cyclic: Record<string, unknown> = { k: KEY };
    cyclic.self = cyclic;
    expect(scrubber().scrubValue(cyclic)).toEqual({ k: secretMarker("api_key"), self: "[Circular]" });
    let deep: unknown = KEY;
    for (let i = 0; i < 150; i++) deep = [deep];
    expect(JSON.stringify(scrubber().scrubValue(deep))).not.toContain(KEY);
    expect(JSON.stringify(scrubber().scrubValue(deep))).toContain("{{redacted:too-deep}}");
  });
});

describe("bad input", () => {
  it.each([[undefined], [null], [42], [{}], [Buffer.from("x")]])("scrubText refuses %s with a typed error", (input) => {
    expect(() => scrubber().scrubText(input as unknown as string)).toThrow(SecretError);
    try {
      scrubber().scrubText(input as unknown as string);
    } catch (error) {
      expect((error as SecretError).code).toBe("scrub-input-invalid");
    }
  });

  it("a stream refuses a piece that is not text", () => {
    expect(() => scrubber().createChunkScrubber().write(7 as unknown as string)).toThrow(/a stream piece must be text/);
  });

  it("handles empty and tiny texts", () => {
    expect(scrubber().scrubText("")).toBe("");
    expect(scrubber().scrubText("abc")).toBe("abc");
    const stream = scrubber().createChunkScrubber();
    expect(stream.write("") + stream.end()).toBe("");
  });

  it("streams with the same result as one piece, whatever the piece size", () => {
    const s = scrubber();
    const text = `start ${KEY} middle ${Buffer.from(KEY).toString("base64")} end ${PIN}\n`.repeat(20);
    const whole = s.scrubText(text);
    for (const size of [1, 5, 17, 64, 1000]) {
      const stream = s.createChunkScrubber();
      let out = "";
      for (let i = 0; i < text.length; i += size) out += stream.write(text.slice(i, i + size));
      expect(out + stream.end()).toBe(whole);
    }
  });
});

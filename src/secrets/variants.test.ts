import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { flattenLineBreaks } from "./matcher.js";
import { variantsOf } from "./variants.js";

describe("the encodings of a known value", () => {
  it("covers base64 and base64url at every alignment inside a larger blob (property)", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8, maxLength: 60 }), fc.uint8Array({ maxLength: 9 }), fc.uint8Array({ maxLength: 9 }), (value, before, after) => {
        const patterns = variantsOf(value).map((v) => v.text);
        const blob = Buffer.concat([Buffer.from(before), Buffer.from(value, "utf8"), Buffer.from(after)]);
        for (const encoded of [blob.toString("base64"), blob.toString("base64url")]) {
          expect(patterns.some((p) => flattenLineBreaks(encoded).includes(p))).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });

  it.each([
    ["hex", (v: string) => Buffer.from(v).toString("hex")],
    ["HEX", (v: string) => Buffer.from(v).toString("hex").toUpperCase()],
    ["URL", (v: string) => encodeURIComponent(v)],
    ["form", (v: string) => new URLSearchParams({ v }).toString().slice(2)],
    ["JSON", (v: string) => JSON.stringify(v).slice(1, -1)],
    ["JSON in JSON", (v: string) => JSON.stringify(JSON.stringify(v).slice(1, -1)).slice(1, -1)],
    ["JSON with escaped slashes", (v: string) => JSON.stringify(v).slice(1, -1).replace(/\//g, "\\/")],
    ["HTML", (v: string) => v.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")],
  ])("includes the %s form", (_name, encode) => {
    const value = `p@ss/w0rd+"q'&<>%é✓\n2nd`;
    const patterns = variantsOf(value).map((v) => v.text);
    expect(patterns).toContain(flattenLineBreaks(encode(value)));
  });

  it("never yields a pattern under 8 characters or with a raw line break", () => {
    for (const v of variantsOf("abcdefgh\nijklmnop")) {
      expect(v.text.length).toBeGreaterThanOrEqual(8);
      expect(v.text).not.toMatch(/[\r\n]/);
    }
  });
});

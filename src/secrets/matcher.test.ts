import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LiteralMatcher, flattenLineBreaks, type PatternHit } from "./matcher.js";

function hits(matcher: LiteralMatcher, text: string): PatternHit[] {
  const found: PatternHit[] = [];
  matcher.scan(text, (h) => found.push(h));
  return found.sort((a, b) => a.start - b.start || a.label - b.label);
}

/** Every occurrence by brute force, for comparison. */
function naive(patterns: readonly string[], text: string): PatternHit[] {
  const found: PatternHit[] = [];
  patterns.forEach((p, label) => {
    for (let at = text.indexOf(p); at >= 0; at = text.indexOf(p, at + 1)) found.push({ start: at, end: at + p.length, label });
  });
  return found.sort((a, b) => a.start - b.start || a.label - b.label);
}

describe("the literal matcher", () => {
  it("finds every occurrence of patterns of every length class, overlapping ones included", () => {
    const m = new LiteralMatcher();
    const patterns = ["abcdefgh", "cdefghijklmnopqr", "0123456789abcdefghijklmnopqrstuvwxyz"];
    patterns.forEach((p, i) => m.add(p, i));
    const text = `xxabcdefghijklmnopqr..0123456789abcdefghijklmnopqrstuvwxyz abcdefgh`;
    expect(hits(m, text)).toEqual(naive(patterns, text));
  });

  it("agrees with brute force on random patterns and texts (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 8, maxLength: 70, unit: fc.constantFrom("a", "b", "c", "é", "✓") }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        fc.string({ maxLength: 300, unit: fc.constantFrom("a", "b", "c", "x", " ") }),
        (patterns, picks, noise) => {
          const m = new LiteralMatcher();
          patterns.forEach((p, i) => m.add(p, i));
          let text = noise;
          for (const pick of picks) {
            const at = pick % (text.length + 1);
            text = text.slice(0, at) + patterns[pick % patterns.length]! + text.slice(at);
          }
          expect(hits(m, text)).toEqual(naive(patterns, text));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("finds a pattern split by raw and escaped line breaks, reporting the span that includes them", () => {
    const m = new LiteralMatcher();
    m.add("secretvalue-0042", 7);
    for (const text of ["a secretval\nue-0042 b", "a secretval\r\nue-0042 b", "a secretval\\nue-0042 b", "a secr\netval\\r\\nue-0042 b"]) {
      const [hit] = hits(m, text);
      expect(hit).toBeDefined();
      expect(text.slice(hit!.start, hit!.end).replace(/\\[rn]|[\r\n]/g, "")).toBe("secretvalue-0042");
    }
  });

  it("forgets a removed pattern but keeps others sharing its q-grams", () => {
    const m = new LiteralMatcher();
    m.add("abcdefgh-one", 1);
    m.add("abcdefgh-two", 2);
    m.remove("abcdefgh-one", 1);
    expect(m.size).toBe(1);
    expect(hits(m, "abcdefgh-one abcdefgh-two").map((h) => h.label)).toEqual([2]);
  });

  it.each([
    ["a pattern under 8 characters", "short"],
    ["a pattern with a line break", "abcd\nefgh"],
  ])("refuses %s", (_name, pattern) => {
    expect(() => new LiteralMatcher().add(pattern, 0)).toThrow(RangeError);
  });

  it("flattens line breaks left to right, as the matcher sees text", () => {
    expect(flattenLineBreaks("a\r\nb\\nc\\\\nd")).toBe("abc\\d");
  });
});

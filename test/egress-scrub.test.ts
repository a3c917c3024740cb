import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScrubStream, SCRUBBED, scrubText } from "../src/egress/index.js";

async function scrubChunks(chunks: readonly string[], secrets: readonly string[]): Promise<string> {
  const out: Buffer[] = [];
  const stream = Readable.from(chunks.map((c) => Buffer.from(c))).pipe(createScrubStream(secrets));
  for await (const chunk of stream) out.push(chunk as Buffer);
  return Buffer.concat(out).toString();
}

describe("scrubbing the injected value from responses", () => {
  it("never lets the value through, however the body is cut into chunks", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 0, maxLength: 60 }), fc.string({ maxLength: 60 }), fc.array(fc.nat({ max: 200 }), { maxLength: 8 }), async (before, after, cuts) => {
        const secret = "sk-live-9f8e7d6c5b4a";
        const body = `${before}${secret}${after}${secret}`;
        const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let from = 0;
        for (const p of points) {
          chunks.push(body.slice(from, p));
          from = p;
        }
        chunks.push(body.slice(from));
        const out = await scrubChunks(chunks.filter((c) => c.length > 0), [secret]);
        expect(out).not.toContain(secret);
        expect(out).toBe(scrubText(body, [secret]));
      }),
      { numRuns: 200 },
    );
  });

  it("replaces prefixed and bare values in header text", () => {
    expect(scrubText("Bearer abc123 and abc123", ["abc123", "Bearer abc123"])).toBe(`Bearer ${SCRUBBED} and ${SCRUBBED}`);
  });
});

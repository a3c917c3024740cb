import { createHash, randomBytes, randomUUID } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createScrubber, secretMarker, variantsOf, type MutableScrubber } from "../src/secrets/index.js";
import { ALNUM, rnd } from "./secrets-samples.js";

/** Known secrets of different shapes: plain tokens, passwords with characters every encoding escapes, a multi-line value, the shortest allowed. */
const KNOWN: { label: string; value: string }[] = [
  { label: "stripe_key", value: ["sk", "_live_", rnd(ALNUM, 28)].join("") },
  { label: "db_password", value: `p@ss/w0rd+"q'&<>%20 é✓${rnd(ALNUM, 6)}` },
  { label: "multi_line", value: `first-line-${rnd(ALNUM, 10)}\nsecond-line-${rnd(ALNUM, 10)}` },
  { label: "short_one", value: `Zq8#${rnd(ALNUM, 4)}` },
  { label: "long_token", value: rnd(`${ALNUM}-_.~`, 200) },
];

function scrubberWithKnown(): MutableScrubber {
  const scrubber = createScrubber();
  for (const { label, value } of KNOWN) scrubber.addSecret(label, value);
  return scrubber;
}

/** Every encoding the issue names, as the text a tool would print. */
function encodings(value: string): [string, string][] {
  const bytes = Buffer.from(value, "utf8");
  const out: [string, string][] = [
    ["raw", value],
    ["hex", bytes.toString("hex")],
    ["HEX", bytes.toString("hex").toUpperCase()],
    ["url", encodeURIComponent(value)],
    ["url lowercase escapes", encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())],
    ["form", new URLSearchParams({ v: value }).toString().slice(2)],
    ["json", JSON.stringify(value).slice(1, -1)],
    ["html", value.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;")],
  ];
  for (const prefix of [0, 1, 2]) {
    const blob = Buffer.concat([randomBytes(prefix + 30), bytes, randomBytes(31)]);
    out.push([`base64 in a blob at alignment ${prefix}`, blob.toString("base64")]);
    out.push([`base64url in a blob at alignment ${prefix}`, blob.toString("base64url")]);
    out.push([`MIME base64 (76 columns) at alignment ${prefix}`, blob.toString("base64").replace(/(.{76})/g, "$1\r\n")]);
  }
  const flat = value.replace(/\n/g, "");
  for (const at of [1, Math.floor(flat.length / 2), flat.length - 1]) {
    out.push([`split by \\n at ${at}`, `${flat.slice(0, at)}\n${flat.slice(at)}`]);
    out.push([`split by \\r\\n at ${at}`, `${flat.slice(0, at)}\r\n${flat.slice(at)}`]);
  }
  return out;
}

/** The places a secret turns up in. */
const CONTEXTS: [string, (s: string) => string][] = [
  ["plain", (s) => s],
  ["JSON", (s) => JSON.stringify({ ok: true, data: { note: "x", token: s }, list: [1, s] })],
  ["HTML", (s) => `<html><body><div data-k="${s}"><p>hello ${s}</p></div></body></html>`],
  ["stack trace", (s) => `Error: request failed with ${s}\n    at Object.<anonymous> (/srv/app.js:10:5)\n    at Module._compile (node:internal/modules/cjs/loader:1105:14)`],
  ["URL", (s) => `https://api.example.com/v1/charge?key=${s}&amount=100#frag`],
  ["log line", (s) => `2026-11-22T08:00:00Z INFO client configured token=${s} retries=3`],
];

const leakCases = KNOWN.flatMap(({ label, value }) =>
  encodings(value).flatMap(([encoding, encoded]) =>
    CONTEXTS.map(([context, wrap]) => [label, encoding, context, wrap(encoded), encoded] as const),
  ),
);

/** What must not survive: the encoded form, and any form of any known value (line breaks ignored). */
function assertClean(scrubber: MutableScrubber, out: string, encoded: string): void {
  expect(out).not.toContain(encoded);
  expect(scrubber.scrub(out).findings.filter((f) => f.kind === "secret")).toEqual([]);
  const flat = out.replace(/\\[rn]|[\r\n]/g, "");
  for (const { value } of KNOWN) {
    for (const variant of variantsOf(value)) expect(flat).not.toContain(variant.text);
  }
}

describe("the leak corpus", () => {
  const scrubber = scrubberWithKnown();

  it(`covers ${leakCases.length} cases`, () => {
    expect(leakCases.length).toBeGreaterThan(500);
  });

  it.each(leakCases)("catches %s as %s inside %s", (label, _encoding, _context, text, encoded) => {
    const result = scrubber.scrub(text);
    assertClean(scrubber, result.text, encoded);
    expect(result.text).toContain(secretMarker(label));
    expect(result.findings.some((f) => f.kind === "secret" && f.label === label)).toBe(true);
  });

  it.each(leakCases.filter((_c, i) => i % 7 === 0))(
    "catches %s as %s inside %s when streamed in pieces of every size",
    (_label, _encoding, _context, text, encoded) => {
      for (const size of [1, 2, 3, 7, 16, 61]) {
        const stream = scrubber.createChunkScrubber();
        let out = "";
        for (let i = 0; i < text.length; i += size) out += stream.write(text.slice(i, i + size));
        out += stream.end();
        assertClean(scrubber, out, encoded);
      }
    },
  );

  it("catches a secret straddling every boundary of a large streamed output", async () => {
    const { value } = KNOWN[0]!;
    const filler = rnd(`${ALNUM} \n`, 200_000);
    const text = `${filler.slice(0, 99_990)}${value}${filler.slice(99_990)}`;
    for (const cut of [99_985, 99_991, 99_995, 100_000, 100_017]) {
      const stream = scrubber.createScrubStream();
      const pieces: string[] = [];
      stream.on("data", (d: Buffer) => pieces.push(d.toString("utf8")));
      const done = new Promise((resolve) => stream.on("end", resolve));
      stream.write(Buffer.from(text.slice(0, cut)));
      stream.end(Buffer.from(text.slice(cut)));
      await done;
      const out = pieces.join("");
      expect(out).not.toContain(value);
      expect(out).toBe(scrubber.scrubText(text));
      expect(out).toContain(secretMarker("stripe_key"));
    }
  });

  it("keeps a multi-byte character split across byte chunks intact", async () => {
    const text = `héllo ✓ ${KNOWN[0]!.value} wörld`;
    const bytes = Buffer.from(text, "utf8");
    const stream = scrubber.createScrubStream();
    const pieces: string[] = [];
    stream.on("data", (d: Buffer) => pieces.push(d.toString("utf8")));
    const done = new Promise((resolve) => stream.on("end", resolve));
    for (let i = 0; i < bytes.length; i += 1) stream.write(bytes.subarray(i, i + 1));
    stream.end();
    await done;
    const out = pieces.join("");
    expect(out).toBe(scrubber.scrubText(text));
    expect(out.startsWith("héllo ✓ {{secret:stripe_key}}")).toBe(true);
    expect(out.endsWith(" wörld")).toBe(true);
  });

  it("catches any secret at any offset of random text, in every encoding (property)", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 8, maxLength: 40, unit: "grapheme" }).filter((s) => s.length >= 8 && !/[\r\n]/.test(s)),
        fc.string({ maxLength: 200 }),
        fc.string({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 40 }),
        (secret, before, after, noise) => {
          const s = createScrubber({ rules: [] });
          s.addSecret("k", secret);
          const bytes = Buffer.from(secret, "utf8");
          const forms = [
            secret,
            bytes.toString("hex"),
            encodeURIComponent(secret),
            JSON.stringify(secret).slice(1, -1),
            Buffer.concat([Buffer.from(noise), bytes, Buffer.from(noise)]).toString("base64"),
            Buffer.concat([Buffer.from(noise), bytes]).toString("base64url"),
          ];
          for (const form of forms) {
            const out = s.scrubText(`${before}${form}${after}`);
            expect(s.scrub(out).findings).toEqual([]);
            expect(out).toContain(secretMarker("k"));
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});

/** Files of this repository that make up the clean corpus. */
function repoFiles(): string[] {
  const root = join(import.meta.dirname, "..");
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((name) => {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) return walk(path);
      return /\.(ts|md|json|ya?ml)$/.test(name) ? [path] : [];
    });
  const files = ["src", "test", "bench", "docs", "examples"].flatMap((d) => {
    try {
      return walk(join(root, d));
    } catch {
      return [];
    }
  });
  return [...files, join(root, "package.json"), join(root, "package-lock.json")];
}

function cleanCorpus(): { name: string; lines: string[] }[] {
  const sources = repoFiles().map((file) => ({ name: file, lines: readFileSync(file, "utf8").split("\n") }));
  const uuids = Array.from({ length: 5000 }, () => `id=${randomUUID()}`);
  const hashes = Array.from({ length: 5000 }, (_v, i) => {
    const h = createHash(i % 2 ? "sha256" : "sha1").update(String(i)).digest();
    return i % 3 ? `${h.toString("hex")}  file-${i}.tar.gz` : `sha512-${createHash("sha512").update(String(i)).digest("base64")}`;
  });
  const png = Buffer.concat([Buffer.from("89504e470d0a1a0a", "hex"), randomBytes(200_000)]);
  const image = `data:image/png;base64,${png.toString("base64")}`.match(/.{1,76}/g)!;
  const words = "the a of to and in that it is was for on are with as be at by this from or have an they which one you had not but what all were when we there can said use each how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part".split(" ");
  const prose = Array.from({ length: 5000 }, () => {
    const n = 6 + Math.floor(Math.random() * 14);
    return Array.from({ length: n }, () => words[Math.floor(Math.random() * words.length)]).join(" ") + ".";
  });
  return [
    ...sources,
    { name: "uuids", lines: uuids },
    { name: "hashes", lines: hashes },
    { name: "base64 image", lines: image },
    { name: "prose", lines: prose },
  ];
}

describe("the clean corpus", () => {
  it("flags fewer than 1 line in 1,000 with 1,000 known secrets and the pattern rules on", () => {
    const scrubber = createScrubber();
    for (let i = 0; i < 1000; i++) scrubber.addSecret(`known_${i}`, rnd(`${ALNUM}-_`, 24 + (i % 40)));
    for (const { label, value } of KNOWN) scrubber.addSecret(label, value);
    let total = 0;
    const flagged: string[] = [];
    for (const { name, lines } of cleanCorpus()) {
      for (const line of lines) {
        total++;
        const result = scrubber.scrub(line);
        if (result.findings.length > 0) flagged.push(`${name}: ${result.findings.map((f) => f.label).join(",")}`);
      }
    }
    const rate = flagged.length / total;
    console.log(`clean corpus: ${flagged.length} of ${total} lines flagged (${(rate * 1000).toFixed(3)} per 1,000)`, flagged);
    expect(total).toBeGreaterThan(30_000);
    expect(rate).toBeLessThan(1 / 1000);
  });
});

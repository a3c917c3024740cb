import { describe, expect, it } from "vitest";
import { DEFAULT_RULES, createScrubber, patternMarker } from "../src/secrets/index.js";
import { ALNUM, DIGITS, HEX, rnd, ruleSamples } from "./secrets-samples.js";

const samples = await ruleSamples();
const scrubber = createScrubber({ genericEntropy: true });

describe("built-in pattern rules", () => {
  it("has a sample for every rule and cites a source for every rule", () => {
    expect(new Set(samples.map((s) => s.rule))).toEqual(new Set(DEFAULT_RULES.map((r) => r.id)));
    for (const rule of DEFAULT_RULES) expect(rule.source.length).toBeGreaterThan(5);
  });

  it.each(samples.map((s) => [s.rule, s] as const))("redacts a %s and keeps the text around it", (rule, s) => {
    const result = scrubber.scrub(s.text);
    expect(result.text).not.toContain(s.secret);
    expect(result.text).toContain(patternMarker(rule));
    expect(result.findings.map((f) => f.label)).toContain(rule);
    expect(result.text.startsWith(s.text.slice(0, s.text.indexOf(s.secret)))).toBe(true);
  });

  const nearMisses: [string, string][] = [
    ["a GitHub token one character short", `token ${["gh", "p_"].join("")}${rnd(ALNUM, 35)} `],
    ["AWS's documented example key", `aws_access_key_id = ${["AKIA", "IOSFODNN7", "EXAMPLE"].join("")}`],
    ["a URL with a variable for a password", "postgres://app:${DB_PASSWORD}@db.internal/app"],
    ["a URL with user but no password", "ssh://git@github.com/acme/repo.git"],
    ["a URL with a placeholder password", "https://user:password@example.com/"],
    ["a public key in PEM", "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----"],
    ["a JWT header on its own", "eyJhbGciOiJIUzI1NiJ9 is a header"],
    ["a Stripe publishable key", `pk_live_${rnd(ALNUM, 24)}`],
    ["a low-entropy Databricks-looking id", `da${"pi"}${"0".repeat(32)} `],
    ["a git commit hash", `commit ${rnd(HEX, 40)}`],
    ["a phone-number-like Slack prefix", `xox${"b"}-${rnd(DIGITS, 3)}`],
    ["generic assignment with generic rules off", `api_token = ${rnd(ALNUM, 32)}`],
  ];

  it.each(nearMisses)("leaves %s alone", (_name, text) => {
    const plain = createScrubber();
    expect(plain.scrub(text).findings).toEqual([]);
    expect(plain.scrubText(text)).toBe(text);
  });

  it("finds a rule's keyword in any letter case", () => {
    const key = ["sk", "_live_", rnd(ALNUM, 24)].join("");
    expect(createScrubber().scrubText(`STRIPE=${key}`)).toBe(`STRIPE=${patternMarker("stripe-access-token")}`);
  });

  it("redacts a private key that is cut off before its END line", () => {
    const s = samples.find((x) => x.rule === "private-key")!;
    const cut = s.secret.slice(0, s.secret.length - 40);
    const out = createScrubber().scrubText(`oops: ${cut}`);
    const body = cut.split("\n")[2]!;
    expect(out).not.toContain(body);
  });

  it("redacts a private key inside a JSON string with escaped line breaks", () => {
    const s = samples.find((x) => x.rule === "private-key")!;
    const json = JSON.stringify({ type: "service_account", private_key: s.secret });
    const out = createScrubber().scrubText(json);
    for (const line of s.secret.split("\n").slice(1, -1)) expect(out).not.toContain(line);
  });

  it("refuses to disable a rule that does not exist", () => {
    expect(() => createScrubber({ disableRules: ["github-patt"] })).toThrow(/unknown scrub rule `github-patt`/);
  });

  it("switches a rule off by id", () => {
    const key = ["gh", "p_", rnd(ALNUM, 36)].join("");
    expect(createScrubber({ disableRules: ["github-pat"] }).scrubText(key)).toBe(key);
  });
});

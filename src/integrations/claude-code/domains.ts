import { domainToASCII, domainToUnicode } from "node:url";

/**
 * Host names that look like another (confusables) are refused before any list lookup:
 * `gіthub.com` with a Cyrillic `і` is a different host that a person reading the log would
 * take for GitHub. We refuse labels that mix scripts, and any non-ASCII label unless the
 * allow-list names that exact (punycode) host.
 */
export type DomainJudgement =
  | { readonly verdict: "allow"; readonly host: string }
  | { readonly verdict: "deny"; readonly host: string; readonly reason: string };

/** Normalises an allow-list entry: lower case, no trailing dot, punycode. */
export function normalizeDomainPattern(pattern: string): string {
  const wildcard = pattern.startsWith("*.");
  const host = asciiHost(wildcard ? pattern.slice(2) : pattern);
  return wildcard ? `*.${host}` : host;
}

function asciiHost(host: string): string {
  const trimmed = host.toLowerCase().replace(/\.$/, "");
  return domainToASCII(trimmed);
}

const SCRIPTS: readonly [string, RegExp][] = [
  ["Latin", /\p{Script=Latin}/u],
  ["Cyrillic", /\p{Script=Cyrillic}/u],
  ["Greek", /\p{Script=Greek}/u],
  ["Armenian", /\p{Script=Armenian}/u],
  ["Cherokee", /\p{Script=Cherokee}/u],
  ["Han", /\p{Script=Han}/u],
  ["Hiragana", /\p{Script=Hiragana}/u],
  ["Katakana", /\p{Script=Katakana}/u],
  ["Hangul", /\p{Script=Hangul}/u],
  ["Arabic", /\p{Script=Arabic}/u],
  ["Hebrew", /\p{Script=Hebrew}/u],
];

function scriptsOf(label: string): Set<string> {
  const found = new Set<string>();
  for (const ch of label) {
    if (/[0-9-]/.test(ch)) continue;
    const script = SCRIPTS.find(([, re]) => re.test(ch));
    found.add(script ? script[0] : "Other");
  }
  return found;
}

/**
 * Judges the host of a URL against the allow-list (`docs.python.org`, `*.github.com`; a wildcard
 * matches subdomains, not the bare domain). Case-folded, trailing dot dropped, compared in
 * punycode; mixed-script or unlisted non-ASCII hosts are refused.
 *
 * @example
 * judgeUrl("https://DOCS.python.org./3/", ["docs.python.org"]) // { verdict: "allow", host: "docs.python.org" }
 */
export function judgeUrl(url: string, allow: readonly string[]): DomainJudgement {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { verdict: "deny", host: "", reason: `\`${url.slice(0, 200)}\` is not a URL` };
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") {
    return { verdict: "deny", host: parsed.host, reason: `only http and https URLs may be fetched, not \`${parsed.protocol}\`` };
  }
  if (parsed.username || parsed.password) {
    return { verdict: "deny", host: parsed.hostname, reason: "URLs with credentials in them are refused" };
  }
  return judgeHost(parsed.hostname, allow);
}

/** Judges one host name; see {@link judgeUrl}. */
export function judgeHost(rawHost: string, allow: readonly string[]): DomainJudgement {
  // WHATWG URL parsing already turned Unicode into punycode; undo it to look at the scripts.
  const host = asciiHost(rawHost);
  if (!host) return { verdict: "deny", host: rawHost, reason: `\`${rawHost}\` is not a valid host name` };
  const patterns = allow.map(normalizeDomainPattern);
  const listedExactly = patterns.includes(host);
  for (const label of host.split(".")) {
    if (!label.startsWith("xn--")) continue;
    const unicode = domainToUnicode(label) || label;
    const scripts = scriptsOf(unicode);
    if (scripts.size > 1) {
      return { verdict: "deny", host, reason: `\`${host}\` mixes scripts (${[...scripts].join(", ")}) in one label, a look-alike of another host` };
    }
    if (!listedExactly) {
      return { verdict: "deny", host, reason: `\`${host}\` (\`${unicode}\`) is an internationalised host name not on the allow-list` };
    }
  }
  for (const pattern of patterns) {
    if (pattern === host) return { verdict: "allow", host };
    if (pattern.startsWith("*.") && host.endsWith(pattern.slice(1))) return { verdict: "allow", host };
  }
  return { verdict: "deny", host, reason: `\`${host}\` is not on the domain allow-list` };
}

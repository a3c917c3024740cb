/**
 * The forms in which a known secret value can leave a tool: the raw value and the encodings
 * tools, shells and libraries put it through. Each form is a literal the matcher looks for.
 */
export const ENCODINGS = [
  "raw",
  "base64",
  "base64url",
  "hex",
  "hex-upper",
  "url",
  "json",
  "html",
  "base64-url-encoded",
] as const;

export type Encoding = (typeof ENCODINGS)[number];

import { flattenLineBreaks } from "./matcher.js";

/** One literal to look for, and which encoding of the value it is. */
export interface Variant {
  readonly text: string;
  readonly encoding: Encoding;
}

/** Patterns shorter than this would match ordinary text; values are at least 8 characters, so no real form is this short. */
export const MIN_PATTERN_LENGTH = 8;

/**
 * Every form of `value` to look for, without duplicates. Line breaks (raw or escaped) are removed
 * from each form, because the matcher skips them in the text it scans: this is how a value split
 * across lines (a wrapped PEM body, a MIME base64 blob, a terminal wrap, and any of these
 * JSON-encoded) is still found. A form starting with `n` or `r` is also kept without that letter,
 * and one ending in `\` without it: a backslash just outside the value could otherwise pair with
 * it into an escape the matcher skips.
 *
 * Base64 is covered at all three alignments. When the value sits at byte offset `k mod 3` of a
 * larger blob, the characters that encode only the value's bits are the middle of
 * `base64(k zero bytes + value)`: from character ceil(8k/6) to floor(8(k+n)/6). Those middles are
 * the patterns, so a value embedded anywhere in a base64 stream is found.
 *
 * @example
 * variantsOf("s3cr3t-value").map((v) => v.encoding) // ["raw", "base64", "base64", "base64", ..., "hex", "hex-upper"]
 */
export function variantsOf(value: string): Variant[] {
  const bytes = Buffer.from(value, "utf8");
  const out: Variant[] = [];
  const seen = new Set<string>();
  const push = (pattern: string, encoding: Encoding): void => {
    if (pattern.length < MIN_PATTERN_LENGTH || seen.has(pattern)) return;
    seen.add(pattern);
    out.push({ text: pattern, encoding });
  };
  const add = (text: string, encoding: Encoding): void => {
    const pattern = flattenLineBreaks(text);
    push(pattern, encoding);
    if (/^[nr]/.test(pattern)) push(pattern.slice(1), encoding);
    if (pattern.endsWith("\\")) push(pattern.slice(0, -1), encoding);
  };

  add(value, "raw");
  const base64Middles: string[] = [];
  for (const alignment of [0, 1, 2]) {
    const padded = Buffer.concat([Buffer.alloc(alignment), bytes]);
    const start = Math.ceil((8 * alignment) / 6);
    const end = Math.floor((8 * (alignment + bytes.length)) / 6);
    const standard = padded.toString("base64").slice(start, end);
    const urlSafe = padded.toString("base64url").slice(start, end);
    add(standard, "base64");
    add(urlSafe, "base64url");
    base64Middles.push(standard);
  }
  add(bytes.toString("hex"), "hex");
  add(bytes.toString("hex").toUpperCase(), "hex-upper");

  const component = encodeURIComponent(value);
  add(component, "url");
  add(component.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()), "url");
  add(new URLSearchParams({ v: value }).toString().slice(2), "url");
  add(encodeURI(value), "url");
  for (const middle of base64Middles) add(encodeURIComponent(middle), "base64-url-encoded");

  const json = JSON.stringify(value).slice(1, -1);
  add(json, "json");
  add(JSON.stringify(json).slice(1, -1), "json");
  add(json.replace(/\//g, "\\/"), "json");
  add(asciiJson(json), "json");

  add(escapeHtml(value), "html");
  add(escapeHtml(value).replace(/&#39;/g, "&#x27;"), "html");
  return out;
}

/** JSON with every non-ASCII character escaped as `\uXXXX`, as Python's `json.dumps` writes it. */
function asciiJson(json: string): string {
  let out = "";
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    out += c < 0x80 ? json[i] : `\\u${c.toString(16).padStart(4, "0")}`;
  }
  return out;
}

function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

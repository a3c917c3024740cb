import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { ApprovalError } from "./errors.js";

/** What a signed link lets its holder do: answer one request as one approver, until `expiresMs`. */
export interface LinkClaim {
  readonly requestId: string;
  readonly approver: string;
  readonly verdict: "approve" | "deny";
  readonly expiresMs: number;
}

const MIN_KEY_BYTES = 32;
/** Domain separation: a link MAC can never be confused with any other HMAC made with the same key. */
const CONTEXT = "gatehouse-approval-link-v1\n";
const MAX_TOKEN_CHARS = 2048;

const ClaimSchema = z.strictObject({
  v: z.literal(1),
  r: z.string().min(1).max(200),
  a: z.string().min(1).max(200),
  d: z.enum(["approve", "deny"]),
  e: z.int().positive(),
});

/**
 * Signs a link token: base64url(JSON claim) "." base64url(HMAC-SHA256(key, context + payload)).
 *
 * @example
 * const token = signLink(key, { requestId, approver: "alice", verdict: "approve", expiresMs: Date.now() + 3_600_000 });
 */
export function signLink(key: Uint8Array, claim: LinkClaim): string {
  assertKey(key);
  const payload = Buffer.from(JSON.stringify({ v: 1, r: claim.requestId, a: claim.approver, d: claim.verdict, e: claim.expiresMs })).toString("base64url");
  return `${payload}.${mac(key, payload).toString("base64url")}`;
}

/**
 * Checks a link token and returns its claim. The token is attacker-controlled: it is parsed
 * defensively, and the MAC is compared in constant time before the payload is trusted.
 * Throws ApprovalError `link-invalid` (forged, altered, malformed) or `link-expired`.
 */
export function verifyLink(key: Uint8Array, token: string, nowMs: number): LinkClaim {
  assertKey(key);
  const invalid = () => new ApprovalError("link-invalid", "this approval link is not valid (altered or not issued by this server); answer in the inbox or CLI");
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS) throw invalid();
  const parts = token.split(".");
  if (parts.length !== 2) throw invalid();
  const [payload, signature] = parts as [string, string];
  if (!/^[A-Za-z0-9_-]+$/.test(payload) || !/^[A-Za-z0-9_-]+$/.test(signature)) throw invalid();
  const given = Buffer.from(signature, "base64url");
  const expected = mac(key, payload);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();
  let parsed;
  try {
    parsed = ClaimSchema.safeParse(JSON.parse(Buffer.from(payload, "base64url").toString("utf8")));
  } catch {
    throw invalid();
  }
  if (!parsed.success) throw invalid();
  const claim: LinkClaim = { requestId: parsed.data.r, approver: parsed.data.a, verdict: parsed.data.d, expiresMs: parsed.data.e };
  if (claim.expiresMs <= nowMs) {
    throw new ApprovalError("link-expired", `this approval link expired at ${new Date(claim.expiresMs).toISOString()}; answer in the inbox or CLI`);
  }
  return claim;
}

/**
 * Reads the link-signing key file, creating it (32 random bytes, hex, mode 0600) if it does not
 * exist. The webhook notifier and `gatehouse serve` must read the same file.
 */
export function readOrCreateLinkKey(file: string): Buffer {
  let text: string | undefined;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new ApprovalError("link-key-invalid", `${file}: cannot read the link key (${(error as Error).message})`);
    }
  }
  if (text === undefined) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    try {
      writeFileSync(file, `${key.toString("hex")}\n`, { mode: 0o600, flag: "wx" });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      return readOrCreateLinkKey(file); // another process created it first: use theirs
    }
    chmodSync(file, 0o600);
    return key;
  }
  const hex = text.trim();
  if (!/^[0-9a-f]+$/.test(hex) || hex.length < MIN_KEY_BYTES * 2 || hex.length % 2 !== 0) {
    throw new ApprovalError("link-key-invalid", `${file}: the link key must be at least ${MIN_KEY_BYTES} bytes as hex; delete it to have a new one made`);
  }
  return Buffer.from(hex, "hex");
}

function mac(key: Uint8Array, payload: string): Buffer {
  return createHmac("sha256", key).update(CONTEXT).update(payload).digest();
}

function assertKey(key: Uint8Array): void {
  if (key.length < MIN_KEY_BYTES) throw new ApprovalError("link-key-invalid", `the link key must be at least ${MIN_KEY_BYTES} bytes`);
}

import { createHmac, timingSafeEqual } from "node:crypto";
import { EgressError } from "./errors.js";

/** Who is asking: the agent and the run, proven by a run token. */
export interface EgressIdentity {
  readonly agent: string;
  readonly run: string;
}

const RUN = /^[A-Za-z0-9_:-]{1,128}$/;
const AGENT = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;
const MIN_KEY_BYTES = 32;

function mac(key: Uint8Array, agent: string, run: string, expires: number): string {
  return createHmac("sha256", key).update(`gatehouse-egress-v1\0${agent}\0${run}\0${expires}`).digest("base64url");
}

function assertKey(key: Uint8Array): void {
  if (key.byteLength < MIN_KEY_BYTES) {
    throw new EgressError("egress-config-invalid", `the run-token key must be at least ${MIN_KEY_BYTES} bytes`);
  }
}

/**
 * Mints the run token a sandbox puts in its proxy URL as the password
 * (`http://AGENT:TOKEN@127.0.0.1:3128`). The token binds agent, run and expiry with an
 * HMAC-SHA-256 under a key only Gatehouse holds, so an agent cannot claim another agent's
 * allow-list by changing the user name.
 *
 * @example mintRunToken(key, { agent: "coder", run: "r-1", expiresAt: Date.now() + 3_600_000 })
 */
export function mintRunToken(key: Uint8Array, token: EgressIdentity & { readonly expiresAt: number }): string {
  assertKey(key);
  if (!AGENT.test(token.agent)) throw new EgressError("egress-config-invalid", `agent name \`${token.agent}\` is not valid`);
  if (!RUN.test(token.run)) throw new EgressError("egress-config-invalid", `run id \`${token.run}\` is not valid (letters, digits, _ : -)`);
  const expires = Math.floor(token.expiresAt / 1000);
  return `v1.${token.run}.${expires}.${mac(key, token.agent, token.run, expires)}`;
}

/**
 * Checks a run token for `agent` and returns the run it names, or throws `egress-auth-invalid`.
 * Comparison is constant-time; an expired token is refused.
 */
export function verifyRunToken(key: Uint8Array, agent: string, token: string, nowMs: number): EgressIdentity {
  const parts = token.split(".");
  if (parts.length !== 4 || parts[0] !== "v1") throw new EgressError("egress-auth-invalid", "run token is malformed");
  const [, run = "", expText = "", given = ""] = parts;
  if (!RUN.test(run) || !/^[0-9]{1,12}$/.test(expText) || !AGENT.test(agent)) {
    throw new EgressError("egress-auth-invalid", "run token is malformed");
  }
  const expires = Number(expText);
  const expected = Buffer.from(mac(key, agent, run, expires));
  const actual = Buffer.from(given);
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new EgressError("egress-auth-invalid", "run token does not match this agent");
  }
  if (expires * 1000 <= nowMs) throw new EgressError("egress-auth-invalid", "run token has expired");
  return { agent, run };
}

/**
 * Reads `Proxy-Authorization: Basic base64(agent:token)`. Throws `egress-auth-required` when the
 * header is missing and `egress-auth-invalid` when it is not Basic or does not decode.
 */
export function parseProxyAuthorization(header: string | undefined): { agent: string; token: string } {
  if (header === undefined || header === "") {
    throw new EgressError("egress-auth-required", "proxy credentials required: use http://AGENT:RUN_TOKEN@proxy");
  }
  const match = /^Basic[ ]+([A-Za-z0-9+/]+={0,2})[ ]*$/i.exec(header);
  if (!match?.[1] || match[1].length > 4096) throw new EgressError("egress-auth-invalid", "proxy credentials must use Basic");
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw new EgressError("egress-auth-invalid", "proxy credentials must be AGENT:RUN_TOKEN");
  // Clients percent-encode the user part of a proxy URL inconsistently; names here are plain.
  return { agent: decoded.slice(0, colon), token: decoded.slice(colon + 1) };
}

/**
 * Reads a run-token key given as text (64+ hex digits, or base64 of 32+ bytes), as passed in
 * `GATEHOUSE_EGRESS_KEY`. Throws `egress-config-invalid` with what to do when it is too short.
 */
export function parseTokenKey(text: string): Uint8Array {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]+$/.test(trimmed) && trimmed.length % 2 === 0 ? Buffer.from(trimmed, "hex") : Buffer.from(trimmed, "base64");
  if (bytes.byteLength < MIN_KEY_BYTES) {
    throw new EgressError("egress-config-invalid", `the run-token key must be at least ${MIN_KEY_BYTES} bytes (hex or base64)\n  help: generate one with \`openssl rand -hex 32\``);
  }
  return bytes;
}

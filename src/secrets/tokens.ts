import { createPrivateKey, createPublicKey, randomUUID, type KeyObject } from "node:crypto";
import { SignJWT, exportJWK, type JWK } from "jose";
import { SecretError } from "./errors.js";
import { MAX_TOKEN_TTL_SECONDS, type SigningConfig } from "../policy/index.js";

/** What one minted token says. */
export interface TokenRequest {
  /** The handle the token is minted for (named in errors). */
  readonly handle: string;
  readonly audience: string;
  readonly scope: readonly string[];
  /** Lifetime; at most 900 seconds. */
  readonly ttlSeconds: number;
  /** The `sub` claim: the agent the call is made for. */
  readonly subject: string;
  /** The tool the token is for (claim `tool`). */
  readonly tool: string;
  /** The run, when known (claim `run`). */
  readonly run?: string;
}

/** A minted token and when it expires. */
export interface MintedToken {
  readonly token: string;
  readonly expiresAt: Date;
}

const MIN_HMAC_BYTES = 32;

/**
 * Signs a short-lived, scoped JWT (RFC 7519) with the key Gatehouse holds: `iss`, `sub`, `aud`,
 * `scope` (RFC 8693 §4.2, space-joined), `iat`, `nbf`, `exp` (at most 15 minutes on), a random
 * `jti`, and the `tool` (and `run`) it was minted for. A tool gets a credential that expires on
 * its own and names its purpose, instead of a standing one.
 *
 * `keyText` is a PKCS#8 PEM or a private JWK (JSON) for EdDSA (Ed25519), ES256 (P-256) and RS256
 * (≥ 2048 bits), or a secret of at least 32 bytes for HS256. A key of the wrong kind is refused.
 *
 * @example
 * const { token } = await mintToken(signing, pem, { handle: "billing", audience: "https://billing", scope: ["invoices:read"], ttlSeconds: 300, subject: "support", tool: "list_invoices" }, new Date());
 */
export async function mintToken(
  signing: SigningConfig,
  keyText: string,
  request: TokenRequest,
  now: Date,
): Promise<MintedToken> {
  if (!Number.isInteger(request.ttlSeconds) || request.ttlSeconds <= 0 || request.ttlSeconds > MAX_TOKEN_TTL_SECONDS) {
    throw new SecretError(
      "token-mint-failed",
      `token \`${request.handle}\`: a lifetime of ${request.ttlSeconds} s is outside 1..${MAX_TOKEN_TTL_SECONDS} s`,
      { handle: request.handle, help: "set `ttlSeconds` to at most 900 (15 minutes)" },
    );
  }
  const key = importSigningKey(signing, keyText, request.handle);
  const issuedAt = Math.floor(now.getTime() / 1000);
  const expiresAt = issuedAt + request.ttlSeconds;
  const claims: Record<string, unknown> = { scope: request.scope.join(" "), tool: request.tool };
  if (request.run !== undefined) claims.run = request.run;
  const header: { alg: string; typ: string; kid?: string } = { alg: signing.alg, typ: "JWT" };
  if (signing.kid !== undefined) header.kid = signing.kid;
  try {
    const token = await new SignJWT(claims)
      .setProtectedHeader(header)
      .setIssuer(signing.issuer)
      .setSubject(request.subject)
      .setAudience(request.audience)
      .setIssuedAt(issuedAt)
      .setNotBefore(issuedAt)
      .setExpirationTime(expiresAt)
      .setJti(randomUUID())
      .sign(key);
    return { token, expiresAt: new Date(expiresAt * 1000) };
  } catch {
    // The library's message may describe the key; it is never shown.
    throw new SecretError("token-mint-failed", `token \`${request.handle}\`: signing with ${signing.alg} failed`, {
      handle: request.handle,
      help: "check that the signing key matches `secrets.signing.alg`",
    });
  }
}

/**
 * The public half of the signing key as a JWK, for the services that verify minted tokens
 * (publish it as a JWKS). Undefined for HS256, whose key must stay secret.
 */
export async function signingPublicJwk(signing: SigningConfig, keyText: string): Promise<JWK | undefined> {
  if (signing.alg === "HS256") return undefined;
  const key = importSigningKey(signing, keyText, "signing");
  const jwk = await exportJWK(createPublicKey(key as KeyObject));
  return { ...jwk, alg: signing.alg, use: "sig", ...(signing.kid === undefined ? {} : { kid: signing.kid }) };
}

function importSigningKey(signing: SigningConfig, keyText: string, handle: string): KeyObject | Uint8Array {
  const refuse = (why: string): SecretError =>
    new SecretError("token-mint-failed", `token \`${handle}\`: the signing key ${why}`, {
      handle,
      help: "see docs/secrets.md, section Minted tokens, for how to make a key",
    });
  if (signing.alg === "HS256") {
    const bytes = new TextEncoder().encode(keyText);
    if (bytes.length < MIN_HMAC_BYTES) throw refuse(`is shorter than ${MIN_HMAC_BYTES} bytes, too weak for HS256`);
    return bytes;
  }
  let key: KeyObject;
  try {
    const text = keyText.trim();
    key = text.startsWith("{")
      ? createPrivateKey({ key: JSON.parse(text) as Record<string, unknown> as never, format: "jwk" })
      : createPrivateKey(text);
  } catch {
    throw refuse("is not a PKCS#8 PEM or private JWK");
  }
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails;
  switch (signing.alg) {
    case "EdDSA":
      if (type !== "ed25519") throw refuse(`is ${type ?? "unknown"}, not Ed25519 as EdDSA needs`);
      break;
    case "ES256":
      if (type !== "ec" || details?.namedCurve !== "prime256v1") throw refuse("is not a P-256 EC key as ES256 needs");
      break;
    case "RS256":
      if (type !== "rsa" || (details?.modulusLength ?? 0) < 2048) throw refuse("is not an RSA key of 2048 bits or more");
      break;
  }
  return key;
}

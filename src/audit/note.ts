import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { AuditError } from "./errors.js";

/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, and the key encodings of
 * golang.org/x/mod/sumdb/note, so checkpoints and keys interoperate with the Go ecosystem
 * (sumdb, transparency-dev witnesses).
 */

/** Signature type byte for Ed25519 in signed notes. */
const ED25519 = 0x01;
/** The note's signature lines start with U+2014 EM DASH and a space. */
const SIGNATURE_PREFIX = "\u2014 ";
/** Notes longer than this are refused before any parsing (they come from files anyone may write). */
const MAX_NOTE_BYTES = 1 << 20;
/** The spec asks verifiers to accept at least 16; Go's note package caps at 100. */
const MAX_SIGNATURES = 100;
const PKCS8_ED25519_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_ED25519_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

/** A public key that checks note signatures, with its name and 32-bit key id. */
export interface NoteVerifierKey {
  readonly name: string;
  /** The 4-byte key id (big-endian uint32 as bytes). */
  readonly keyId: Buffer;
  /** The raw 32-byte Ed25519 public key. */
  readonly publicKey: Buffer;
}

/** A private key that signs notes, with the verifier key that checks its signatures. */
export interface NoteSigningKey {
  readonly name: string;
  readonly keyId: Buffer;
  readonly privateKey: KeyObject;
  readonly verifier: NoteVerifierKey;
}

/**
 * Key id = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4] (signed-note
 * spec, "Ed25519 signatures").
 */
export function noteKeyId(name: string, publicKey: Uint8Array): Buffer {
  return createHash("sha256")
    .update(Buffer.from(name, "utf8"))
    .update(Buffer.from([0x0a, ED25519]))
    .update(publicKey)
    .digest()
    .subarray(0, 4);
}

/**
 * Creates a new Ed25519 signing key named `name` (a schema-less URL such as
 * `example.com/gatehouse/audit` is recommended; it becomes the log's checkpoint origin).
 *
 * @example
 * const key = generateSigningKey("example.com/gatehouse/audit");
 */
export function generateSigningKey(name: string): NoteSigningKey {
  assertKeyName(name);
  const { privateKey } = generateKeyPairSync("ed25519");
  return signingKeyFromPrivate(name, privateKey);
}

function signingKeyFromPrivate(name: string, privateKey: KeyObject): NoteSigningKey {
  const spki = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const publicKey = Buffer.from(spki.subarray(spki.length - 32));
  const keyId = noteKeyId(name, publicKey);
  return { name, keyId, privateKey, verifier: { name, keyId, publicKey } };
}

/** Encodes a signing key as `PRIVATE+KEY+<name>+<hex id>+<base64(0x01 || seed)>` (Go note format). */
export function formatSigningKey(key: NoteSigningKey): string {
  const pkcs8 = key.privateKey.export({ format: "der", type: "pkcs8" });
  const seed = pkcs8.subarray(pkcs8.length - 32);
  return `PRIVATE+KEY+${key.name}+${key.keyId.toString("hex")}+${Buffer.concat([Buffer.from([ED25519]), seed]).toString("base64")}`;
}

/** Encodes a verifier key as `<name>+<hex id>+<base64(0x01 || public key)>` (Go note format). */
export function formatVerifierKey(key: NoteVerifierKey): string {
  return `${key.name}+${key.keyId.toString("hex")}+${Buffer.concat([Buffer.from([ED25519]), key.publicKey]).toString("base64")}`;
}

/**
 * Parses a signing key in Go note format. Throws `audit-key-invalid` naming what is wrong (the
 * message never echoes the key material).
 */
export function parseSigningKey(text: string): NoteSigningKey {
  const trimmed = text.trim();
  if (!trimmed.startsWith("PRIVATE+KEY+")) {
    throw new AuditError("audit-key-invalid", "a signing key starts with `PRIVATE+KEY+`; is this the public key file?");
  }
  const { name, id, material } = splitKey(trimmed.slice("PRIVATE+KEY+".length));
  if (material.length !== 33 || material[0] !== ED25519) {
    throw new AuditError("audit-key-invalid", "the signing key is not an Ed25519 key (type 0x01, 32-byte seed)");
  }
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, material.subarray(1)]), format: "der", type: "pkcs8" });
  const key = signingKeyFromPrivate(name, privateKey);
  if (!key.keyId.equals(id)) throw new AuditError("audit-key-invalid", "the signing key's id does not match its name and key");
  return key;
}

/** Parses a verifier key in Go note format. Throws `audit-key-invalid`. */
export function parseVerifierKey(text: string): NoteVerifierKey {
  const trimmed = text.trim();
  if (trimmed.startsWith("PRIVATE+KEY+")) {
    throw new AuditError("audit-key-invalid", "this is a private signing key; give the public key (the `.pub` file)");
  }
  const { name, id, material } = splitKey(trimmed);
  if (material.length !== 33 || material[0] !== ED25519) {
    throw new AuditError("audit-key-invalid", "the verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
  }
  const publicKey = Buffer.from(material.subarray(1));
  const keyId = noteKeyId(name, publicKey);
  if (!keyId.equals(id)) throw new AuditError("audit-key-invalid", "the verifier key's id does not match its name and key");
  return { name, keyId, publicKey };
}

function splitKey(text: string): { name: string; id: Buffer; material: Buffer } {
  // The base64 part may itself contain '+', so split on the first two only.
  const first = text.indexOf("+");
  const second = first < 0 ? -1 : text.indexOf("+", first + 1);
  if (first <= 0 || second < 0) throw new AuditError("audit-key-invalid", "a key has the form `<name>+<8 hex digits>+<base64>`");
  const name = text.slice(0, first);
  const hexId = text.slice(first + 1, second);
  const b64 = text.slice(second + 1);
  assertKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(hexId)) throw new AuditError("audit-key-invalid", "the key id must be 8 lowercase hex digits");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new AuditError("audit-key-invalid", "the key material is not base64");
  return { name, id: Buffer.from(hexId, "hex"), material: Buffer.from(b64, "base64") };
}

function assertKeyName(name: string): void {
  // Signed-note spec: non-empty, no Unicode spaces, no '+'.
  if (name.length === 0 || /[\s+]/u.test(name) || hasControl(name, false)) {
    throw new AuditError("audit-key-invalid", `key name \`${name}\` must be non-empty, without spaces or \`+\` (e.g. example.com/gatehouse/audit)`);
  }
}

/**
 * Signs `text` (which must end in a newline and contain no blank-line separator problems) and
 * returns the signed note: text, a blank line, `— <name> base64(keyid || signature)`.
 */
export function signNote(text: string, key: NoteSigningKey): string {
  assertNoteText(text);
  const signature = sign(null, Buffer.from(text, "utf8"), key.privateKey);
  return `${text}\n${SIGNATURE_PREFIX}${key.name} ${Buffer.concat([key.keyId, signature]).toString("base64")}\n`;
}

/** One signature line of a note, not yet verified. */
export interface NoteSignature {
  readonly name: string;
  readonly keyId: Buffer;
  readonly signature: Buffer;
}

/** Splits a note into its text and signature lines. Throws `audit-checkpoint-invalid`. */
export function parseNote(note: string): { text: string; signatures: NoteSignature[] } {
  // The note may come from a file anyone could write: bound and check it before looking inside.
  if (Buffer.byteLength(note, "utf8") > MAX_NOTE_BYTES) throw invalid("the note is larger than 1 MiB");
  if (hasControl(note, true)) throw invalid("the note contains control characters other than newline");
  if (note.includes("\uFFFD")) throw invalid("the note is not valid UTF-8");
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw invalid("the note has no blank line before its signatures");
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2);
  if (!lines.endsWith("\n")) throw invalid("the note's last signature line does not end in a newline");
  const signatures: NoteSignature[] = [];
  for (const line of lines.slice(0, -1).split("\n")) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw invalid("a signature line must start with `— ` (em dash, space)");
    const rest = line.slice(SIGNATURE_PREFIX.length);
    const space = rest.lastIndexOf(" ");
    if (space <= 0) throw invalid("a signature line has the form `— <key name> <base64>`");
    const name = rest.slice(0, space);
    const b64 = rest.slice(space + 1);
    if (/\s|\+/u.test(name)) throw invalid("a signature's key name contains a space or `+`");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw invalid("a signature is not base64");
    const bytes = Buffer.from(b64, "base64");
    if (bytes.length < 5) throw invalid("a signature is too short to hold a key id");
    signatures.push({ name, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4) });
    if (signatures.length > MAX_SIGNATURES) throw invalid(`the note has more than ${MAX_SIGNATURES} signatures`);
  }
  if (signatures.length === 0) throw invalid("the note has no signatures");
  return { text, signatures };
}

/**
 * Verifies a signed note against one trusted key and returns its text. Signatures from other
 * keys are ignored (the spec requires it, so witnesses can cosign); a signature from the trusted
 * key that does not verify rejects the note. Throws `audit-checkpoint-invalid` for a malformed
 * note and `audit-checkpoint-untrusted` when the trusted key did not sign it.
 *
 * @example
 * const text = openNote(note, verifierKey);
 */
export function openNote(note: string, key: NoteVerifierKey): string {
  const { text, signatures } = parseNote(note);
  assertNoteText(text);
  const publicKey = createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, key.publicKey]), format: "der", type: "spki" });
  for (const s of signatures) {
    // The name is attacker-controlled; compare it as a literal string, never as a pattern.
    if (s.name !== key.name || !s.keyId.equals(key.keyId)) continue;
    if (s.signature.length !== 64 || !verify(null, Buffer.from(text, "utf8"), publicKey, s.signature)) {
      throw new AuditError("audit-checkpoint-untrusted", `the signature by \`${key.name}\` does not verify: the note was changed or forged`);
    }
    return text;
  }
  const signers = signatures.map((s) => `${s.name}+${s.keyId.toString("hex")}`).join(", ");
  throw new AuditError(
    "audit-checkpoint-untrusted",
    `the note is not signed by the trusted key \`${key.name}+${key.keyId.toString("hex")}\` (signed by ${signers})`,
  );
}

function assertNoteText(text: string): void {
  if (!text.endsWith("\n")) throw invalid("the note text must end in a newline");
  if (hasControl(text, true)) throw invalid("the note text contains control characters other than newline");
}

function invalid(message: string): AuditError {
  return new AuditError("audit-checkpoint-invalid", message);
}

/** True when `text` has an ASCII control character (below U+0020), newline excepted if allowed. */
function hasControl(text: string, allowNewline: boolean): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && !(allowNewline && c === 0x0a)) return true;
  }
  return false;
}

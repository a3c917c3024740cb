import { AuditError } from "./errors.js";
import { openNote, parseNote, signNote, type NoteSigningKey, type NoteVerifierKey } from "./note.js";

/**
 * Transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): a signed note whose text is
 * the log's origin, its size in decimal, and the base64 RFC 6962 root hash.
 */

/** A log's size and root hash, as a checkpoint states them. */
export interface Checkpoint {
  /** Identifies the log; equals the signing key's name for Gatehouse logs. */
  readonly origin: string;
  readonly size: number;
  /** 32-byte RFC 6962 root hash. */
  readonly root: Buffer;
}

/** The checkpoint body: `<origin>\n<size>\n<base64 root>\n`. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  return `${checkpoint.origin}\n${checkpoint.size}\n${checkpoint.root.toString("base64")}\n`;
}

/**
 * Signs a checkpoint with the log's key and returns the signed note.
 *
 * @example
 * const note = signCheckpoint({ origin: key.name, size: 3, root }, key);
 */
export function signCheckpoint(checkpoint: Checkpoint, key: NoteSigningKey): string {
  return signNote(formatCheckpoint(checkpoint), key);
}

/** Parses a checkpoint body (the note text). Throws `audit-checkpoint-invalid`. */
export function parseCheckpointText(text: string): Checkpoint {
  const lines = text.split("\n");
  // text ends in "\n", so the last element is empty.
  if (lines.length < 4 || lines[lines.length - 1] !== "") {
    throw new AuditError("audit-checkpoint-invalid", "a checkpoint has at least three lines: origin, size, root hash");
  }
  const [origin = "", sizeText = "", rootText = ""] = lines;
  if (origin.length === 0) throw new AuditError("audit-checkpoint-invalid", "the checkpoint's origin line is empty");
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(Number(sizeText))) {
    throw new AuditError("audit-checkpoint-invalid", `the checkpoint size \`${sizeText.slice(0, 40)}\` is not a decimal number without leading zeros`);
  }
  if (!/^[A-Za-z0-9+/]{43}=$/.test(rootText)) {
    throw new AuditError("audit-checkpoint-invalid", "the checkpoint root is not the base64 of a 32-byte hash");
  }
  for (const extension of lines.slice(3, -1)) {
    if (extension.length === 0) throw new AuditError("audit-checkpoint-invalid", "a checkpoint extension line is empty");
  }
  return { origin, size: Number(sizeText), root: Buffer.from(rootText, "base64") };
}

/**
 * Verifies a signed checkpoint with the trusted key and, when given, checks it belongs to the
 * log named `origin`. Throws `audit-checkpoint-invalid` (malformed), `audit-checkpoint-untrusted`
 * (not signed by the key) or `audit-checkpoint-foreign` (another log's checkpoint).
 *
 * @example
 * const { size, root } = openCheckpoint(note, verifierKey, "example.com/gatehouse/audit");
 */
export function openCheckpoint(note: string, key: NoteVerifierKey, origin?: string): Checkpoint {
  const checkpoint = parseCheckpointText(parseNote(note).text);
  if (origin !== undefined && checkpoint.origin !== origin) {
    throw new AuditError(
      "audit-checkpoint-foreign",
      `the checkpoint is for log \`${checkpoint.origin.slice(0, 200)}\`, not for \`${origin}\`: it comes from another log`,
    );
  }
  openNote(note, key);
  return checkpoint;
}

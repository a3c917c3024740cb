import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { AuditError } from "./errors.js";
import {
  formatSigningKey,
  formatVerifierKey,
  parseSigningKey,
  parseVerifierKey,
  type NoteSigningKey,
  type NoteVerifierKey,
} from "./note.js";

/**
 * Reads the log's signing key (Go note `PRIVATE+KEY+…` format). Throws `audit-key-missing` when
 * the file does not exist and `audit-key-invalid` when it cannot be parsed.
 */
export function readSigningKeyFile(file: string): NoteSigningKey {
  return parseKeyFile(file, parseSigningKey);
}

/** Reads a verifier (public) key file. Throws `audit-key-missing` or `audit-key-invalid`. */
export function readVerifierKeyFile(file: string): NoteVerifierKey {
  return parseKeyFile(file, parseVerifierKey);
}

function parseKeyFile<T>(file: string, parse: (text: string) => T): T {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new AuditError("audit-key-missing", `${file}: no key file here; create one with \`gatehouse audit keygen\` or pass --key`, { cause: error });
    }
    throw new AuditError("audit-key-invalid", `${file}: cannot read the key file (${code ?? String(error)})`, { cause: error });
  }
  try {
    return parse(text);
  } catch (error) {
    throw new AuditError("audit-key-invalid", `${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/**
 * Writes `file` (the private key, mode 0600) and `file.pub` (the verifier key). Never overwrites
 * an existing key: losing the signing key would make every later checkpoint unverifiable
 * against what was published before.
 *
 * @returns the path of the verifier key file
 */
export function writeKeyFiles(file: string, key: NoteSigningKey): string {
  const pub = `${file}.pub`;
  for (const path of [file, pub]) {
    if (existsSync(path)) {
      throw new AuditError("audit-option-invalid", `${path} already exists; keys are never overwritten (move it away first)`);
    }
  }
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, `${formatSigningKey(key)}\n`, { mode: 0o600, flag: "wx" });
    chmodSync(file, 0o600);
    writeFileSync(pub, `${formatVerifierKey(key.verifier)}\n`, { mode: 0o644, flag: "wx" });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new AuditError("audit-option-invalid", `${file}: cannot write the key files (${code}); check the directory and its permissions`, { cause: error });
  }
  return pub;
}

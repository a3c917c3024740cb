import { describe, expect, it } from "vitest";
import {
  formatSigningKey,
  formatVerifierKey,
  generateSigningKey,
  noteKeyId,
  openNote,
  parseNote,
  parseSigningKey,
  parseVerifierKey,
  signNote,
} from "./note.js";

// The reference vector of golang.org/x/mod/sumdb/note (note.go package documentation and
// note_test.go): a signer key, its verifier key, a text and the exact signed note Go produces.
// Ed25519 is deterministic (RFC 8032), so a compatible implementation reproduces it byte for byte.
const GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
const GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const GO_NOTE = `${GO_TEXT}\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`;

describe("signed notes (c2sp.org/signed-note) against the Go sumdb/note vector", () => {
  it("parses the Go signer key and reproduces Go's signed note byte for byte", () => {
    const key = parseSigningKey(GO_SIGNER);
    expect(key.name).toBe("PeterNeumann");
    expect(key.keyId.toString("hex")).toBe("c74f20a3");
    expect(formatVerifierKey(key.verifier)).toBe(GO_VERIFIER);
    expect(signNote(GO_TEXT, key)).toBe(GO_NOTE);
    expect(formatSigningKey(key)).toBe(GO_SIGNER);
  });

  it("computes the key id as SHA-256(name || 0x0A || 0x01 || public key)[:4]", () => {
    const verifier = parseVerifierKey(GO_VERIFIER);
    expect(noteKeyId(verifier.name, verifier.publicKey).toString("hex")).toBe("c74f20a3");
  });

  it("opens Go's note with the verifier key", () => {
    expect(openNote(GO_NOTE, parseVerifierKey(GO_VERIFIER))).toBe(GO_TEXT);
  });

  it("ignores signatures from unknown keys when a trusted one verifies", () => {
    const other = generateSigningKey("witness.example/w1");
    const cosigned = GO_NOTE + signNote(GO_TEXT, other).slice(GO_TEXT.length + 1);
    expect(openNote(cosigned, parseVerifierKey(GO_VERIFIER))).toBe(GO_TEXT);
  });

  it.each([
    ["the text was changed", GO_NOTE.replace("cryptography", "cryptographY"), "audit-checkpoint-untrusted"],
    ["the signature was changed", GO_NOTE.replace("x08go", "x08gp"), "audit-checkpoint-untrusted"],
    ["only another key signed it", signNote(GO_TEXT, generateSigningKey("PeterNeumann")), "audit-checkpoint-untrusted"],
    ["the signature line uses a hyphen instead of an em dash", GO_NOTE.replace("\u2014", "-"), "audit-checkpoint-invalid"],
    ["there is no blank line", GO_NOTE.replace("\n\n", "\n"), "audit-checkpoint-invalid"],
    ["it contains a control character", GO_NOTE.replace("If", "I\u0007f"), "audit-checkpoint-invalid"],
    ["the last line has no newline", GO_NOTE.slice(0, -1), "audit-checkpoint-invalid"],
    ["the signature is not base64", GO_NOTE.replace("x08go/", "x08go*"), "audit-checkpoint-invalid"],
    ["it is larger than 1 MiB", `${"a".repeat(1 << 20)}\n${GO_NOTE}`, "audit-checkpoint-invalid"],
  ])("refuses the note when %s", (_name, note, code) => {
    expect(() => openNote(note, parseVerifierKey(GO_VERIFIER))).toThrow(expect.objectContaining({ code }));
  });

  it("names the signer it found when the trusted key did not sign", () => {
    expect(() => openNote(signNote(GO_TEXT, generateSigningKey("someone.else/log")), parseVerifierKey(GO_VERIFIER))).toThrow(
      /not signed by the trusted key `PeterNeumann\+c74f20a3` \(signed by someone\.else\/log\+[0-9a-f]{8}\)/,
    );
  });

  it("refuses more than 100 signatures", () => {
    const line = GO_NOTE.slice(GO_TEXT.length + 1);
    expect(() => parseNote(`${GO_TEXT}\n${line.repeat(101)}`)).toThrow(/more than 100 signatures/);
  });
});

describe("key files in Go note format", () => {
  it("round-trips a generated key", () => {
    const key = generateSigningKey("example.com/gatehouse/audit");
    const again = parseSigningKey(formatSigningKey(key));
    expect(again.keyId.equals(key.keyId)).toBe(true);
    expect(formatVerifierKey(again.verifier)).toBe(formatVerifierKey(key.verifier));
    expect(parseVerifierKey(formatVerifierKey(key.verifier)).publicKey.equals(key.verifier.publicKey)).toBe(true);
  });

  it.each([
    ["a public key given as the signing key", () => parseSigningKey(GO_VERIFIER), /starts with `PRIVATE\+KEY\+`/],
    ["a private key given as the verifier key", () => parseVerifierKey(GO_SIGNER), /private signing key/],
    ["a wrong key id", () => parseVerifierKey(GO_VERIFIER.replace("c74f20a3", "c74f20a4")), /id does not match/],
    ["a key id in upper case", () => parseVerifierKey(GO_VERIFIER.replace("c74f20a3", "C74F20A3")), /8 lowercase hex/],
    ["a non-Ed25519 type byte", () => parseVerifierKey(`PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW`), /not an Ed25519 key/],
    ["a name with a space", () => generateSigningKey("bad name"), /without spaces/],
    ["an empty name", () => generateSigningKey(""), /non-empty/],
    ["a missing separator", () => parseVerifierKey("justaname"), /has the form/],
  ])("refuses %s", (_name, parse, message) => {
    expect(parse).toThrow(message);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { auditConfigSchema } from "../policy/index.js";
import { readSigningKeyFile, readVerifierKeyFile, writeKeyFiles } from "./keys.js";
import { generateSigningKey } from "./note.js";
import { defaultDataDir } from "./paths.js";

describe("the audit section of gatehouse.yaml", () => {
  it("accepts the documented example", () => {
    const config = {
      path: "/var/lib/gatehouse/audit.db",
      key: "/etc/gatehouse/audit.key",
      checkpoint: { everyRecords: 10000, everySeconds: 60 },
      publish: [{ file: "/mnt/witness/gatehouse.checkpoint" }, { url: "https://witness.example.com/gatehouse", headers: { authorization: "Bearer x" } }],
      maxResultBytes: 65536,
      maxBytes: 10737418240,
    };
    expect(auditConfigSchema.parse(config)).toEqual(config);
  });

  it.each([
    ["an unknown key", { pth: "/x" }],
    ["an unknown key inside checkpoint", { checkpoint: { every: 5 } }],
    ["a publish URL that is not http(s)", { publish: [{ url: "ftp://example.com/x" }] }],
    ["a negative result limit", { maxResultBytes: -1 }],
    ["a fractional checkpoint interval", { checkpoint: { everySeconds: 1.5 } }],
  ])("refuses %s", (_name, config) => {
    expect(auditConfigSchema.safeParse(config).success).toBe(false);
  });
});

describe("the data directory", () => {
  it.each([
    [{ XDG_DATA_HOME: "/srv/data" }, "/srv/data/gatehouse"],
    [{ XDG_DATA_HOME: "relative/dir" }, "/home/u/.local/share/gatehouse"],
    [{ XDG_DATA_HOME: "" }, "/home/u/.local/share/gatehouse"],
    [{}, "/home/u/.local/share/gatehouse"],
  ])("with %o is %s", (env, expected) => {
    expect(defaultDataDir(env, "/home/u")).toBe(expected);
  });
});

describe("key files", () => {
  it.each([
    ["a missing signing key", (dir: string) => readSigningKeyFile(join(dir, "none")), "audit-key-missing"],
    ["a missing verifier key", (dir: string) => readVerifierKeyFile(join(dir, "none.pub")), "audit-key-missing"],
    ["garbage as a signing key", (dir: string) => {
      writeFileSync(join(dir, "bad"), "hello");
      return readSigningKeyFile(join(dir, "bad"));
    }, "audit-key-invalid"],
    ["a directory as a key", (dir: string) => readVerifierKeyFile(dir), "audit-key-invalid"],
  ])("refuses %s with a clear code", (_name, read, code) => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-keys-"));
    try {
      expect(() => read(dir)).toThrow(expect.objectContaining({ code, message: expect.stringContaining(dir) }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes and reads back both files", () => {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-keys-"));
    try {
      const key = generateSigningKey("keys.example/audit");
      const pub = writeKeyFiles(join(dir, "sub", "audit.key"), key);
      expect(readSigningKeyFile(join(dir, "sub", "audit.key")).keyId.equals(key.keyId)).toBe(true);
      expect(readVerifierKeyFile(pub).publicKey.equals(key.verifier.publicKey)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

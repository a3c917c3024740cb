import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseVerifierKey, verifyAuditLog } from "../src/audit/index.js";
import { tempDir } from "./audit-helpers.js";

/**
 * A disk that really fills up: the writer runs in its own mount namespace (`unshare -m`, needs
 * root or CAP_SYS_ADMIN) on a 1 MiB tmpfs, so SQLite gets ENOSPC from the kernel.
 */
const root = join(import.meta.dirname, "..");
const canMount = (() => {
  try {
    execFileSync("unshare", ["-m", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

let dir: string;
beforeAll(() => {
  dir = tempDir("gatehouse-diskfull-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a disk that fills up mid-write", () => {
  it.skipIf(!canMount)("rejects the append with audit-disk-full, keeps rejecting, and loses nothing acknowledged", async () => {
    const mnt = join(dir, "mnt");
    const out = join(dir, "out");
    mkdirSync(mnt);
    mkdirSync(out);
    const script = join("test", "fixtures", "audit-disk-full.ts");
    const result = spawnSync(
      "unshare",
      ["-m", "sh", "-c", `mount -t tmpfs -o size=1m tmpfs "$1" && exec "$2" --import tsx "$3" "$1" "$4"`, "sh", mnt, process.execPath, script, out],
      { cwd: root, encoding: "utf8", timeout: 60_000 },
    );
    expect(result.stderr).toBe("");
    const report = JSON.parse(result.stdout) as { acked: number; code: string; message: string; again: string; verifier: string };
    expect(report.code).toBe("audit-disk-full");
    expect(report.message).toMatch(/full/);
    expect(report.again).toBe("audit-disk-full");
    expect(report.acked).toBeGreaterThan(50);
    const verified = await verifyAuditLog({ path: join(out, "audit.db"), verifierKey: parseVerifierKey(report.verifier) });
    expect(verified.problems).toEqual([]);
    expect(verified).toMatchObject({ ok: true, size: report.acked });
  });
});

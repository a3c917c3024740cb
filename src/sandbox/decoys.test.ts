import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { decoysWork, inspectDecoys, plantDecoy } from "./decoys.js";

let root = "";
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "gh-decoys-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Longer than a clock tick: the run's first access comes after bwrap's set-up, never in the planting tick. */
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** Follows a path the way a reader would, failing as the run's reads fail. */
const follow = (path: string): void => {
  try {
    lstatSync(join(path, "x"));
  } catch {
    // ENOENT: the link leads nowhere
  }
};

/** Mounting needs root or a user namespace with CAP_SYS_ADMIN (`unshare -m`). */
const canMount = (() => {
  try {
    execFileSync("unshare", ["-m", "true"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();

describe("decoys", () => {
  it.skipIf(!canMount)("the atime probe (gatehouse doctor) says no on a noatime file system, where decoys cannot fire, and yes on relatime", () => {
    const mnt = join(root, "mnt");
    mkdirSync(mnt);
    const probe = `import { decoysWork } from ${JSON.stringify(new URL("./decoys.ts", import.meta.url).pathname)}; console.log(JSON.stringify(decoysWork(process.argv[1])));`;
    const run = (options: string): string => {
      const r = spawnSync("unshare", ["-m", "sh", "-c", `mount -t tmpfs -o ${options} tmpfs "$1" && exec "$2" --import tsx --input-type=module -e "$3" "$1"`, "sh", mnt, process.execPath, probe], { encoding: "utf8", timeout: 30_000 });
      return `${r.stdout.trim()}${r.stderr.trim()}`;
    };
    expect(run("noatime")).toBe("false");
    expect(run("relatime")).toBe("true");
  });

  it("access times work on this host's temp directory (the sandbox relies on it here)", () => {
    expect(decoysWork(root)).toBe(true);
    expect(readdirSync(root)).toEqual([]);
  });

  it("an untouched decoy tells nothing", () => {
    const d = plantDecoy(join(root, "d"), "/home/u/.ssh", ["id_rsa", "id_ed25519"]);
    expect(inspectDecoys([d])).toEqual([]);
    // inspecting does not itself move the times
    expect(inspectDecoys([d])).toEqual([]);
  });

  it("following a link is a denied read of that path; listing the directory is one of the directory", async () => {
    const d = plantDecoy(join(root, "d"), "/home/u/.ssh", ["id_rsa", "id_ed25519"]);
    await tick();
    follow(join(d.hostDir, "id_ed25519"));
    expect(inspectDecoys([d])).toEqual([{ kind: "denied-read", path: "/home/u/.ssh/id_ed25519", detail: expect.stringContaining("opened or looked up") }]);
    readdirSync(d.hostDir);
    expect(inspectDecoys([d]).map((f) => `${f.kind} ${f.path}`)).toEqual(["denied-read /home/u/.ssh", "denied-read /home/u/.ssh/id_ed25519"]);
  });

  it("writing through a link works and is not reported; removed or replaced links tell nothing and are never followed", () => {
    const d = plantDecoy(join(root, "d"), "/home/u/.aws", ["credentials", "config2", "other"]);
    const secret = join(root, "host-secret");
    writeFileSync(secret, "s");
    // A test writing a fake ~/.aws/credentials: the file lands beside the link, in the stand-in.
    writeFileSync(join(d.hostDir, "credentials"), "[default]\naws_access_key_id = test\n");
    expect(readFileSync(join(d.hostDir, "credentials"), "utf8")).toContain("test");
    unlinkSync(join(d.hostDir, "config2"));
    unlinkSync(join(d.hostDir, "other"));
    symlinkSync(secret, join(d.hostDir, "other"));
    const atimeBefore = lstatSync(secret).atimeMs;
    expect(inspectDecoys([d])).toEqual([]);
    expect(lstatSync(secret).atimeMs).toBe(atimeBefore);
  });

  it("times reset after a look are still reported, on a link and on the directory", async () => {
    const d = plantDecoy(join(root, "d"), "/home/u/.ssh", ["id_rsa"]);
    await tick();
    follow(join(d.hostDir, "id_rsa"));
    lutimesSync(join(d.hostDir, "id_rsa"), new Date(0), new Date(0));
    readdirSync(d.hostDir);
    utimesSync(d.hostDir, new Date(0), new Date(0));
    // (the directory's atime is not back where it was planted, so it still reads as a listing)
    expect(inspectDecoys([d]).map((f) => `${f.path}: ${f.detail}`)).toEqual([expect.stringContaining("/home/u/.ssh: the denied directory"), expect.stringContaining("were reset by the run (hiding a read?)")]);
  });

  it("a stand-in filled with many entries is inspected with a bound", () => {
    const d = plantDecoy(join(root, "d"), "/home/u/.ssh", ["id_rsa"]);
    for (let i = 0; i < 5000; i++) writeFileSync(join(d.hostDir, `f${i}`), "");
    expect(inspectDecoys([d])).toEqual([]);
  });
});

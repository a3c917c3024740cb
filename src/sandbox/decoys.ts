import { lstatSync, lutimesSync, mkdirSync, opendirSync, readdirSync, rmSync, symlinkSync, utimesSync, type BigIntStats, type Dir } from "node:fs";
import { join } from "node:path";

/**
 * Decoys: kernel-side evidence of a denied read that the program did not complain about.
 *
 * A hidden credential directory (`~/.ssh`, `~/.aws`, Gatehouse's data directory…) is absent from
 * the run's view, so a read of it fails with "No such file or directory" — reported only when the
 * program prints that. Instead of nothing, the run sees a stand-in directory holding symlinks at
 * the usual key names (`~/.ssh/id_ed25519`, `~/.aws/credentials`, `audit.db`…), each pointing at a
 * file beside it that does not exist. The stand-in lives in the run's private directory on the
 * host and is bound read-write, so the kernel keeps access times on it: following a link (open,
 * stat, cat) sets the link's atime, listing the directory sets the directory's. Both are recorded
 * when planted; after the run (its processes are dead by then) a moved atime is a `denied-read`. A read still fails with ENOENT and returns nothing.
 *
 * Writing through a link works, as writing into the empty home did before (a test that writes a
 * fake `~/.aws/credentials` still passes): the file lands in the stand-in and is discarded with the
 * run, and a link whose target the run wrote is not reported. The names are fixed, never taken
 * from the host, so the stand-in tells nothing about what the host has. A run can tell a decoy
 * from the real thing (`lstat`, /proc/self/mountinfo); it cannot make one return data.
 *
 * This needs access times on the file system of the run directory: `gatehouse doctor` checks with {@link decoysWork}.
 */

/**
 * Stand-ins under the home directory and the key names planted in each: key material and tokens
 * that tools read only when they authenticate. Not `~/.kube/config` or `~/.docker/config.json`
 * (read by every `kubectl` or `docker` invocation, so every harmless one would be reported), nor
 * `~/.gnupg` (gpg writes its keyrings there).
 */
export const HOME_DECOYS: Readonly<Record<string, readonly string[]>> = {
  ".ssh": ["id_rsa", "id_ed25519", "id_ecdsa"],
  ".aws": ["credentials"],
  ".config/gcloud": ["application_default_credentials.json", "credentials.db"],
  ".config/gh": ["hosts.yml"],
  ".azure": ["msal_token_cache.json"],
};

/** Key names planted in the stand-in for Gatehouse's data directory. */
export const DATA_DIR_DECOYS = ["audit.db", "audit.key", "approvals.db"] as const;

/** The (absent) file a decoy link named `name` points at, beside it. */
const targetOf = (name: string): string => `.${name}.decoy`;

/** One planted stand-in directory. */
export interface Decoy {
  /** The path inside the run (e.g. `/home/u/.ssh`). */
  readonly dest: string;
  /** The stand-in on the host, in the run's private directory. */
  readonly hostDir: string;
  /** The stand-in's atime and ctime once planted (a ctime change with nothing written means its times were reset). */
  readonly dirAtimeNs: bigint;
  readonly dirCtimeNs: bigint;
  /** Planted link names with their inode numbers, atimes and ctimes (a replacement may reuse the inode, never the ctime). */
  readonly links: readonly { readonly name: string; readonly ino: bigint; readonly atimeNs: bigint; readonly ctimeNs: bigint }[];
}

/** What a decoy tells after the run. */
export interface DecoyFinding {
  readonly kind: "denied-read";
  readonly path: string;
  readonly detail: string;
}

const ZERO = new Date(0);

/**
 * Creates the stand-in for `dest` under `dir` (which must not exist yet). A new inode's atime
 * equals its mtime, so the relatime rule (update while atime <= mtime) moves it on the first
 * access; the times are recorded, not reset (two system calls per link, not three: the metadata
 * calls are what planting costs). bwrap's set-up alone outlasts a clock tick, so an access inside
 * the run never lands on the recorded time.
 */
export function plantDecoy(dir: string, dest: string, names: readonly string[]): Decoy {
  mkdirSync(dir, { mode: 0o700 });
  const links = names.map((name) => {
    const path = join(dir, name);
    symlinkSync(targetOf(name), path);
    const st = lstatSync(path, { bigint: true });
    return { name, ino: st.ino, atimeNs: st.atimeNs, ctimeNs: st.ctimeNs };
  });
  // Last: creating the links moved the directory's mtime and ctime (not its atime).
  const st = lstatSync(dir, { bigint: true });
  return { dest, hostDir: dir, dirAtimeNs: st.atimeNs, dirCtimeNs: st.ctimeNs, links };
}

/**
 * Reads what the run did to its decoys. Call after every process of the run is gone. Nothing is
 * followed, and at most a few names are read from a stand-in the run may have filled.
 */
export function inspectDecoys(decoys: readonly Decoy[]): DecoyFinding[] {
  const out: DecoyFinding[] = [];
  for (const decoy of decoys) {
    const dir = lstatOrUndefined(decoy.hostDir);
    if (!dir?.isDirectory()) continue;
    if (dir.atimeNs !== decoy.dirAtimeNs) out.push({ kind: "denied-read", path: decoy.dest, detail: `the denied directory \`${decoy.dest}\` was listed (seen on its decoy)` });
    else if (dir.ctimeNs !== decoy.dirCtimeNs && onlyPlanted(decoy)) {
      out.push({ kind: "denied-read", path: decoy.dest, detail: `the times of the decoy \`${decoy.dest}\` were reset by the run (hiding a listing?)` });
    }
    for (const { name, ino, atimeNs, ctimeNs } of decoy.links) {
      const path = `${decoy.dest}/${name}`;
      const st = lstatOrUndefined(join(decoy.hostDir, name));
      // Removed or replaced: the run's own business in its scratch home; nothing can be read there.
      if (!st?.isSymbolicLink() || st.ino !== ino) continue;
      // Written through: what a later read returned is what the run itself wrote.
      if (lstatOrUndefined(join(decoy.hostDir, targetOf(name)))) continue;
      if (st.ctimeNs !== ctimeNs) out.push({ kind: "denied-read", path, detail: `the times of the decoy \`${path}\` were reset by the run (hiding a read?)` });
      else if (st.atimeNs !== atimeNs) out.push({ kind: "denied-read", path, detail: `\`${path}\` was opened or looked up (seen on its decoy); nothing was read` });
    }
  }
  return out;
}

/** True when the stand-in holds exactly its planted links (read with a bound: the run may have filled it). */
function onlyPlanted(decoy: Decoy): boolean {
  const planted = new Set(decoy.links.map((l) => l.name));
  let seen = 0;
  let dir: Dir | undefined;
  try {
    dir = opendirSync(decoy.hostDir);
    for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
      if (!planted.has(entry.name) || ++seen > planted.size) return false;
    }
    return true;
  } catch {
    return false;
  } finally {
    dir?.closeSync();
  }
}

function lstatOrUndefined(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * True when following a symlink under `dir` moves its atime and listing a directory moves the
 * directory's (not on `noatime` or `nodiratime` mounts, nor where utimes on links is refused):
 * decoys tell nothing without them. Checked with a throwaway directory and link.
 */
export function decoysWork(dir: string): boolean {
  const probe = join(dir, `.gatehouse-atime-probe-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(probe, { mode: 0o700 });
    const link = join(probe, "l");
    symlinkSync(targetOf("l"), link);
    lutimesSync(link, ZERO, ZERO);
    utimesSync(probe, ZERO, ZERO);
    try {
      lstatSync(join(link, "x"));
    } catch {
      // ENOENT after following the link, as intended
    }
    readdirSync(probe);
    // Both: link atimes (reads) and directory atimes (listings; not on `nodiratime` mounts).
    return lstatSync(link, { bigint: true }).atimeNs !== 0n && lstatSync(probe, { bigint: true }).atimeNs !== 0n;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

import { lstatSync, lutimesSync, mkdirSync, readdirSync, rmSync, symlinkSync, utimesSync, type BigIntStats } from "node:fs";
import { join } from "node:path";

/**
 * Decoys: kernel-side evidence of a denied read that the program did not complain about.
 *
 * A hidden credential directory (`~/.ssh`, `~/.aws`, Gatehouse's data directory…) is absent from
 * the run's view, so a read of it fails with "No such file or directory" — reported only when the
 * program prints that. Instead of nothing, the run sees a stand-in directory that holds dangling
 * symlinks at the usual key names (`~/.ssh/id_ed25519`, `~/.aws/credentials`, `audit.db`…). The
 * stand-in lives in the run's private directory on the host and is bound read-write, so the kernel
 * keeps access times on it: following a decoy link (open, stat, cat) sets the link's atime, listing
 * the directory sets the directory's. Both are set to 0 before the run; after it (the sandbox's
 * processes are dead by then) a moved atime is a `denied-read`, a new entry in the stand-in a
 * `denied-write` (it was discarded with the run). The links lead into `/proc`, where nothing can be
 * created, so a read still fails with ENOENT and never returns data. The names are fixed, never
 * taken from the host, so the stand-in tells nothing about what the host has.
 *
 * This needs access times on the file system of the run directory: {@link decoysWork} checks once.
 */

/** Stand-ins under the home directory and the key names planted in each. */
export const HOME_DECOYS: Readonly<Record<string, readonly string[]>> = {
  ".ssh": ["id_rsa", "id_ed25519", "id_ecdsa", "id_dsa", "id_ed25519_sk", "id_ecdsa_sk"],
  ".aws": ["credentials"],
  ".config/gcloud": ["application_default_credentials.json", "credentials.db", "access_tokens.db"],
  ".kube": ["config"],
  ".docker": ["config.json"],
  ".gnupg": ["private-keys-v1.d", "secring.gpg"],
  ".config/gh": ["hosts.yml"],
  ".azure": ["msal_token_cache.json", "accessTokens.json"],
};

/** Key names planted in the stand-in for Gatehouse's data directory. */
export const DATA_DIR_DECOYS = ["audit.db", "audit.key", "approvals.db"] as const;

/** Where every decoy link points: procfs, where no run can create anything. */
const NOWHERE = "/proc/.gatehouse-denied";

/** One planted stand-in directory. */
export interface Decoy {
  /** The path inside the run (e.g. `/home/u/.ssh`). */
  readonly dest: string;
  /** The stand-in on the host, in the run's private directory. */
  readonly hostDir: string;
  /** Planted link names with their inode numbers and ctimes (a replacement may reuse the inode, never the ctime). */
  readonly links: readonly { readonly name: string; readonly ino: bigint; readonly ctimeNs: bigint }[];
}

/** What a decoy tells after the run. */
export interface DecoyFinding {
  readonly kind: "denied-read" | "denied-write";
  readonly path: string;
  readonly detail: string;
}

const ZERO = new Date(0);

/** Creates the stand-in for `dest` under `dir` (which must not exist yet), with atimes at 0. */
export function plantDecoy(dir: string, dest: string, names: readonly string[]): Decoy {
  mkdirSync(dir, { mode: 0o700 });
  const links = names.map((name) => {
    const path = join(dir, name);
    symlinkSync(`${NOWHERE}/${name}`, path);
    lutimesSync(path, ZERO, ZERO);
    const st = lstatSync(path, { bigint: true });
    return { name, ino: st.ino, ctimeNs: st.ctimeNs };
  });
  // Last: creating the links moved the directory's times.
  utimesSync(dir, ZERO, ZERO);
  return { dest, hostDir: dir, links };
}

/**
 * Reads what the run did to its decoys. Call after every process of the run is gone. Nothing is
 * followed: the run may have replaced any entry with a link to anywhere.
 */
export function inspectDecoys(decoys: readonly Decoy[]): DecoyFinding[] {
  const out: DecoyFinding[] = [];
  for (const decoy of decoys) {
    // The directory's atime first: listing it below sets it.
    const dir = lstatOrUndefined(decoy.hostDir);
    if (!dir) continue;
    if (dir.atimeNs !== 0n) out.push({ kind: "denied-read", path: decoy.dest, detail: `the denied directory \`${decoy.dest}\` was listed (seen on its decoy)` });
    const planted = new Set(decoy.links.map((l) => l.name));
    for (const { name, ino, ctimeNs } of decoy.links) {
      const path = `${decoy.dest}/${name}`;
      const st = lstatOrUndefined(join(decoy.hostDir, name));
      if (!st || st.ino !== ino || st.ctimeNs !== ctimeNs || !st.isSymbolicLink()) {
        out.push({ kind: "denied-write", path, detail: `the decoy at \`${path}\` was removed or replaced (discarded with the run)` });
      } else if (st.atimeNs !== 0n) {
        out.push({ kind: "denied-read", path, detail: `\`${path}\` was opened or looked up (seen on its decoy); nothing was read` });
      }
    }
    let names: string[] = [];
    try {
      names = readdirSync(decoy.hostDir);
    } catch {
      // unreadable: the run changed the stand-in's mode; reported below as a write
      out.push({ kind: "denied-write", path: decoy.dest, detail: `the decoy directory \`${decoy.dest}\` was made unreadable (discarded with the run)` });
    }
    // Listing moved the directory's atime; put it back so a second look tells the same.
    try {
      lutimesSync(decoy.hostDir, ZERO, dir.mtime);
    } catch {
      // the next look may report a listing that was ours; harmless
    }
    for (const name of names.filter((n) => !planted.has(n)).sort().slice(0, 20)) {
      out.push({ kind: "denied-write", path: `${decoy.dest}/${name}`, detail: `\`${decoy.dest}/${name}\` was written into the denied directory's decoy (discarded with the run)` });
    }
  }
  return out;
}

function lstatOrUndefined(path: string): BigIntStats | undefined {
  try {
    return lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/**
 * True when following a symlink under `dir` moves its atime (not on `noatime` mounts, and not
 * where utimes on links is refused): decoys tell nothing without it. Checked with a throwaway link.
 */
export function decoysWork(dir: string): boolean {
  const probe = join(dir, `.gatehouse-atime-probe-${process.pid}-${Date.now()}`);
  try {
    mkdirSync(probe, { mode: 0o700 });
    const link = join(probe, "l");
    symlinkSync(`${NOWHERE}/probe`, link);
    lutimesSync(link, ZERO, ZERO);
    try {
      lstatSync(join(link, "x"));
    } catch {
      // ENOENT after following the link, as intended
    }
    return lstatSync(link, { bigint: true }).atimeNs !== 0n;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

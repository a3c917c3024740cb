import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { SandboxError } from "./errors.js";
import { removePlaceholders, type Placeholder } from "./filesystem.js";

/**
 * Which runs pin which paths, so one run's cleanup never removes a placeholder another run still
 * has mounted. (Removing a mount point from the host detaches the mount in every other namespace:
 * the running sandbox would silently lose the pin and could create `.envrc` after all.)
 *
 * The registry is a private directory (mode 0700, owned by us, never a symlink) with one record
 * per live run (`<pid>-<run>.json`: the paths it pins) and one `orphan-*.json` per placeholder
 * whose creator finished while another run still used it; whoever finishes last removes it.
 */
export interface PinRegistry {
  /** Records that `runId` pins `paths` (call before bwrap mounts them). */
  register(runId: string, paths: readonly string[]): void;
  /** Drops `runId`'s record and removes every placeholder no live run pins any more. */
  release(runId: string, placeholders: readonly Placeholder[]): void;
}

interface Orphan {
  readonly path: string;
  /** Absent in records written before file placeholders existed: a directory. */
  readonly kind?: "file" | "dir";
  readonly dev: number;
  readonly ino: number;
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
};

/** Opens (creating if needed) the pin registry under `root`; refuses a directory that is not ours. */
export function openPinRegistry(root: string): PinRegistry {
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  const dir = join(root, `gatehouse-pins-${uid}`);
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const st = lstatSync(dir);
  // Shared /tmp: another user could have planted the name first.
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new SandboxError("setup-failed", `pin registry \`${dir}\` is not a private directory owned by this user`, "remove it; Gatehouse recreates it");
  }
  const recordName = (runId: string): string => `${process.pid}-${runId}.json`;
  const livePins = (): Set<string> => {
    const live = new Set<string>();
    for (const name of readdirSync(dir)) {
      const m = /^(\d+)-.+\.json$/.exec(name);
      if (!m) continue;
      const file = join(dir, name);
      if (!isAlive(Number(m[1]))) {
        try {
          unlinkSync(file);
        } catch {
          // raced with another cleanup
        }
        continue;
      }
      try {
        for (const p of JSON.parse(readFileSync(file, "utf8")) as string[]) live.add(p);
      } catch {
        // a record being written; treat its paths as unknown (nothing extra kept)
      }
    }
    return live;
  };
  const orphanFile = (path: string): string => join(dir, `orphan-${createHash("sha256").update(path).digest("hex").slice(0, 32)}.json`);
  return {
    register: (runId, paths) => writeFileSync(join(dir, recordName(runId)), JSON.stringify(paths), { mode: 0o600 }),
    release: (runId, placeholders) => {
      try {
        unlinkSync(join(dir, recordName(runId)));
      } catch {
        // never registered (planning failed early)
      }
      const orphans: Orphan[] = [];
      for (const name of readdirSync(dir)) {
        if (!name.startsWith("orphan-")) continue;
        try {
          orphans.push(JSON.parse(readFileSync(join(dir, name), "utf8")) as Orphan);
        } catch {
          // half-written by a concurrent cleanup
        }
      }
      const live = livePins();
      const candidates = new Map<string, Placeholder>();
      for (const o of orphans) candidates.set(o.path, { path: o.path, kind: o.kind ?? "dir", dev: o.dev, ino: o.ino });
      for (const p of placeholders) candidates.set(p.path, p);
      const removable: Placeholder[] = [];
      for (const p of candidates.values()) {
        if (live.has(p.path)) {
          writeFileSync(orphanFile(p.path), JSON.stringify({ path: p.path, kind: p.kind, dev: p.dev, ino: p.ino }), { mode: 0o600 });
          continue;
        }
        removable.push(p);
        try {
          unlinkSync(orphanFile(p.path));
        } catch {
          // was not an orphan
        }
      }
      removePlaceholders(removable);
    },
  };
}

import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, type Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";

/**
 * Git directories stay writable inside the sandbox (commits, fetches and checkouts write them), so
 * pinning `hooks/` and `config` is not enough: git also honours files the sandbox could *create*
 * there — `commondir` (config and hooks taken from another directory), `config.worktree`,
 * `rebase-merge/git-rebase-todo` `exec` lines, `sequencer/`, new `worktrees/*` or `modules/*`
 * entries. An empty placeholder for `commondir` makes git die, so these cannot be pinned. Instead
 * each protected git directory's top level is snapshotted before the run and checked after it
 * (the sandbox's process tree is dead by then): anything new or changed that git does not write in
 * normal use is moved to a quarantine directory in the run's private area (deleted with it) and
 * reported as a `denied-write` violation.
 */

/** Top-level names of a git directory that git writes in normal use (contents not checked). */
const GIT_ALLOWED = new Set([
  "HEAD", "index", "objects", "refs", "logs", "packed-refs", "COMMIT_EDITMSG", "MERGE_MSG", "MERGE_MODE", "SQUASH_MSG",
  "TAG_EDITMSG", "NOTES_EDITMSG", "description", "info", "shallow", "hooks", "config", "branches", "rr-cache", "lfs",
  "gc.pid", "gc.log", "FETCH_HEAD", "ORIG_HEAD", "AUTO_MERGE", "locked",
]);
/** `MERGE_HEAD`, `CHERRY_PICK_HEAD`, `BISECT_LOG`, `index.lock`, `sharedindex.<sha>`. */
const GIT_ALLOWED_PATTERN = /^(?:[A-Z_]+_HEAD|BISECT_[A-Z_]+|[^/]+\.lock|sharedindex\.[0-9a-f]{40,64})$/;

/** Entries fingerprinted under one directory before the check gives up (fail closed). */
const MAX_FINGERPRINT_ENTRIES = 10_000;

/** What one git directory looked like before the run. */
export interface GitDirSnapshot {
  readonly dir: string;
  /** `dev:ino` of the directory itself and of its `worktrees` and `modules` (or `-`). */
  readonly identity: string;
  readonly worktreesIdentity: string;
  readonly modulesIdentity: string;
  readonly entries: ReadonlyMap<string, string>;
  /** Entry names under `worktrees/` and git directories under `modules/`. */
  readonly worktrees: ReadonlySet<string>;
  readonly modules: ReadonlySet<string>;
}

/** Something the post-run check removed from a git directory. */
export interface GitDirFinding {
  readonly path: string;
  readonly detail: string;
}

function fingerprint(path: string, budget: { left: number }): string {
  if (budget.left-- <= 0) throw new Error(`more than ${MAX_FINGERPRINT_ENTRIES} entries under \`${path}\``);
  let st: Stats;
  try {
    st = lstatSync(path, { bigint: false });
  } catch {
    return "-";
  }
  const head = `${st.mode}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  if (!st.isDirectory()) return head;
  const names = readdirSync(path).sort();
  return `${head}{${names.map((n) => `${n}=${fingerprint(join(path, n), budget)}`).join(",")}}`;
}

function listNames(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return [];
    throw error;
  }
}

/** Git directories of submodules under `modules/`, relative (names may hold slashes). */
function moduleNames(modules: string, prefix = "", depth = 0): string[] {
  if (depth > 8) return [];
  const out: string[] = [];
  for (const name of listNames(modules)) {
    const path = join(modules, name);
    let st: Stats;
    try {
      st = lstatSync(path);
    } catch {
      continue;
    }
    if (!st.isDirectory()) {
      out.push(prefix + name);
      continue;
    }
    if (listNames(path).includes("HEAD")) out.push(prefix + name);
    else out.push(...moduleNames(path, `${prefix}${name}/`, depth + 1));
  }
  return out;
}

/** `dev:ino` of a real directory (never through a symlink), else `-`. */
function dirIdentity(path: string): string {
  try {
    const st = lstatSync(path);
    return st.isDirectory() ? `${st.dev}:${st.ino}` : `${st.isSymbolicLink() ? "link" : "other"}:${st.ino}`;
  } catch {
    return "-";
  }
}

/** True when `dir` is still a real directory at its own real path (no component swapped for a symlink). */
function unmoved(dir: string, identity: string): boolean {
  try {
    return realpathSync(dir) === dir && dirIdentity(dir) === identity;
  } catch {
    return false;
  }
}

function snapshotOne(dir: string): GitDirSnapshot {
  const entries = new Map<string, string>();
  const budget = { left: MAX_FINGERPRINT_ENTRIES };
  for (const name of listNames(dir)) {
    if (GIT_ALLOWED.has(name) || GIT_ALLOWED_PATTERN.test(name) || name === "worktrees" || name === "modules") continue;
    entries.set(name, fingerprint(join(dir, name), budget));
  }
  const worktreesIdentity = dirIdentity(join(dir, "worktrees"));
  const modulesIdentity = dirIdentity(join(dir, "modules"));
  return {
    dir,
    identity: dirIdentity(dir),
    entries,
    worktreesIdentity,
    modulesIdentity,
    worktrees: new Set(worktreesIdentity.startsWith("link") ? [] : listNames(join(dir, "worktrees"))),
    modules: new Set(modulesIdentity.startsWith("link") ? [] : moduleNames(join(dir, "modules"))),
  };
}

/** Snapshots every git directory the run could write (before it starts). Throws on an unreadable one. */
export function snapshotGitDirs(dirs: readonly string[]): GitDirSnapshot[] {
  return dirs.map(snapshotOne);
}

/**
 * Compares each git directory with its snapshot and moves what is new or changed and not in
 * git's normal use into `quarantine` (or removes it when it cannot be moved there). Throws when
 * the check itself fails; the caller must then treat the run as failed.
 */
/**
 * A repository the run creates inside the workspace is harmless until git enters it: once it is
 * registered as a gitlink (`git add sub`), the host's `git status` recurses into it and honours
 * its config (`core.fsmonitor`). So after the run the index of each working tree is listed, and
 * a gitlink's `.git` that did not exist before the run (and was created or moved there since
 * `sinceMs`) is quarantined.
 */
export interface NestedRepoCheck {
  readonly worktrees: readonly string[];
  /** `.git` entries found under the writable roots before the run. */
  readonly before: ReadonlySet<string>;
  readonly writableRoots: readonly string[];
  readonly sinceMs: number;
  readonly env: Readonly<Record<string, string | undefined>>;
}

function gitlinksOf(worktree: string, env: Readonly<Record<string, string | undefined>>): string[] {
  let out: string;
  try {
    out = execFileSync("git", ["-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "ls-files", "--stage", "-z"], {
      cwd: worktree,
      env: { ...env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" },
      encoding: "utf8",
      timeout: GIT_CONFIG_TIMEOUT_MS,
      maxBuffer: 256 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") return [];
    throw new Error(`\`git ls-files\` in \`${worktree}\` failed: ${(e.stderr ?? "").trim() || e.message}`, { cause: error });
  }
  const links: string[] = [];
  for (const record of out.split("\0")) {
    if (!record.startsWith("160000 ")) continue;
    const tab = record.indexOf("\t");
    if (tab > 0) links.push(record.slice(tab + 1));
  }
  return links;
}

export function checkGitDirs(snapshots: readonly GitDirSnapshot[], quarantine: string, nested?: NestedRepoCheck): GitDirFinding[] {
  const findings: GitDirFinding[] = [];
  let n = 0;
  const remove = (path: string, why: string): void => {
    mkdirSync(quarantine, { recursive: true, mode: 0o700 });
    const dest = join(quarantine, `${n++}-${basename(path)}`);
    let how: string;
    try {
      renameSync(path, dest);
      how = `moved to the run's quarantine \`${dest}\` (deleted with the run)`;
    } catch {
      rmSync(path, { recursive: true, force: true });
      how = "removed";
    }
    findings.push({ path, detail: `${why}: \`${path}\` would be used by git outside the sandbox; ${how}` });
  };
  // Parents first: a linked worktree's or submodule's directory is checked after the directory
  // holding it, and every directory is verified to be the same real directory it was (never a
  // symlink planted in its place: renaming through one would touch the host outside the repo).
  for (const snap of [...snapshots].sort((a, b) => a.dir.length - b.dir.length)) {
    const budget = { left: MAX_FINGERPRINT_ENTRIES };
    if (!unmoved(snap.dir, snap.identity)) {
      const parent = dirname(snap.dir);
      let parentReal: string | undefined;
      try {
        parentReal = realpathSync(parent);
      } catch {
        continue; // the parent is gone (quarantined above, or removed by git): nothing left to check
      }
      if (parentReal !== parent) throw new Error(`the parent of the git directory \`${snap.dir}\` is no longer a real directory`);
      if (dirIdentity(snap.dir) !== "-") remove(snap.dir, "git directory replaced");
      continue;
    }
    for (const [sub, identity] of [["worktrees", snap.worktreesIdentity], ["modules", snap.modulesIdentity]] as const) {
      const now = dirIdentity(join(snap.dir, sub));
      // Replaced by a symlink, a file, another directory: the whole entry goes.
      if (now !== "-" && now !== identity && !(identity === "-" && !now.startsWith("link") && !now.startsWith("other"))) remove(join(snap.dir, sub), `\`${sub}\` replaced`);
      else if (now.startsWith("link") || now.startsWith("other")) remove(join(snap.dir, sub), `\`${sub}\` is not a directory`);
    }
    for (const name of listNames(snap.dir)) {
      if (GIT_ALLOWED.has(name) || GIT_ALLOWED_PATTERN.test(name) || name === "worktrees" || name === "modules") continue;
      const before = snap.entries.get(name);
      const path = join(snap.dir, name);
      if (before !== undefined && before === fingerprint(path, budget)) continue;
      remove(path, before === undefined ? "created in a git directory" : "changed in a git directory");
    }
    for (const name of listNames(join(snap.dir, "worktrees"))) {
      if (!snap.worktrees.has(name)) remove(join(snap.dir, "worktrees", name), "new linked worktree created");
    }
    for (const name of moduleNames(join(snap.dir, "modules"))) {
      if (!snap.modules.has(name)) remove(join(snap.dir, "modules", name), "new submodule git directory created");
    }
  }
  for (const worktree of nested?.worktrees ?? []) {
    for (const link of gitlinksOf(worktree, nested!.env)) {
      const dotGit = resolve(worktree, link, ".git");
      if (nested!.before.has(dotGit) || !nested!.writableRoots.some((r) => dotGit.startsWith(r + "/"))) continue;
      let st: Stats;
      try {
        st = lstatSync(dotGit);
      } catch {
        continue;
      }
      // A parent swapped for a symlink would make the rename land elsewhere.
      const parent = dirname(dotGit);
      let parentReal: string;
      try {
        parentReal = realpathSync(parent);
      } catch {
        continue;
      }
      if (parentReal !== parent) throw new Error(`the submodule path \`${parent}\` is a symlink`);
      if (st.ctimeMs >= nested!.sinceMs) remove(dotGit, "repository created by the run and registered as a submodule (host git would enter it)");
    }
  }
  return findings;
}

/** What git's own configuration says, for the working tree `worktree`. */
export interface GitConfigView {
  /** Every config file git reads (system, global, local, worktree, includes), absolute. */
  readonly files: string[];
  /** Files named by `include.path` / `includeIf.*.path`, absolute, whether they exist or not. */
  readonly includes: string[];
  /** Each `core.hooksPath` value, absolute. */
  readonly hooksPaths: string[];
  /** Programs that config values name by path (`core.fsmonitor = ./tools/fsmon`), absolute. */
  readonly programs: string[];
}

/** Config keys whose value is a command git runs (the first word is the program). */
const COMMAND_KEYS = /^(?:core\.(?:fsmonitor|editor|pager|sshcommand|askpass|alternaterefscommand)|sequence\.editor|gpg(?:\.[^.]+)?\.program|credential(?:\..+)?\.helper|diff\..+\.(?:textconv|command)|merge\..+\.driver|filter\..+\.(?:clean|smudge|process)|pager\..+|alias\..+|uploadpack\.packobjectshook|interactive\.difffilter|(?:difftool|mergetool|man|browser)\..+\.(?:cmd|path)|remote\..+\.(?:receivepack|uploadpack))$/;

/** Time the host's `git config` may take before the run is refused. */
export const GIT_CONFIG_TIMEOUT_MS = 5000;

/**
 * Asks the host's git which config files it would read in `worktree` and what they say about
 * includes and hooks: `git config --list --show-origin --includes -z`, with the host's environment
 * (HOME, XDG_CONFIG_HOME, GIT_CONFIG_* decide the global config). Returns undefined when git is not
 * installed (nothing can run hooks later); throws when git fails or times out.
 */
export function gitConfigView(worktree: string, env: Readonly<Record<string, string | undefined>>, home: string): GitConfigView | undefined {
  let out: string;
  try {
    out = execFileSync("git", ["-c", "safe.directory=*", "config", "--list", "--show-origin", "--includes", "-z"], {
      cwd: worktree,
      env: { ...env, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" },
      encoding: "utf8",
      timeout: GIT_CONFIG_TIMEOUT_MS,
      maxBuffer: 8 * 1024 * 1024,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") return undefined;
    throw new Error(`\`git config --list\` in \`${worktree}\` failed: ${(e.stderr ?? "").trim() || e.message}`, { cause: error });
  }
  const files = new Set<string>();
  const includes = new Set<string>();
  const hooksPaths = new Set<string>();
  const programs = new Set<string>();
  const expand = (value: string, base: string): string => (value === "~" ? home : value.startsWith("~/") ? join(home, value.slice(2)) : isAbsolute(value) ? value : resolve(base, value));
  const parts = out.split("\0");
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const origin = parts[i]!;
    const record = parts[i + 1]!;
    if (!origin.startsWith("file:")) continue;
    const file = resolve(worktree, origin.slice(5));
    files.add(file);
    const nl = record.indexOf("\n");
    const key = (nl >= 0 ? record.slice(0, nl) : record).toLowerCase();
    const value = nl >= 0 ? record.slice(nl + 1) : "";
    if (value === "") continue;
    if (key === "include.path" || (key.startsWith("includeif.") && key.endsWith(".path"))) includes.add(expand(value, dirname(file)));
    else if (key === "core.hookspath") hooksPaths.add(expand(value, worktree));
    else if (COMMAND_KEYS.test(key)) {
      const first = /^\s*!?\s*(?:"([^"]+)"|'([^']+)'|(\S+))/.exec(value);
      const program = first?.[1] ?? first?.[2] ?? first?.[3];
      // Only a program named by path can be planted in the workspace; a bare name is looked up in PATH.
      if (program?.includes("/")) programs.add(expand(program, worktree));
    }
  }
  return { files: [...files], includes: [...includes], hooksPaths: [...hooksPaths], programs: [...programs] };
}

import { execFileSync } from "node:child_process";
import { copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, readlinkSync, renameSync, rmSync, statSync, type Stats } from "node:fs";
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

/** Files under the allowed `info/` that change what git shows or checks out: treated like unknown state. */
const GIT_INFO_FILES = ["info/exclude", "info/attributes", "info/sparse-checkout"];

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
  for (const name of GIT_INFO_FILES) entries.set(name, fingerprint(join(dir, name), budget));
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
  /** Their {@link gitEntryIdentity} before the run; an entry that differs now was replaced or re-pointed. */
  readonly beforeIds?: ReadonlyMap<string, string>;
  /** Every repository directory under the writable roots before the run, with its {@link repositoryIdentity}. */
  readonly beforeRepositories?: ReadonlyMap<string, string>;
  readonly writableRoots: readonly string[];
  readonly sinceMs: number;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Pre-run copies of the working trees' index files (`snapshotIndexes`). */
  readonly indexes?: readonly IndexSnapshot[];
  /** Paths the plan created as placeholders (a `.git` placeholder is no planted repository). */
  readonly placeholders?: readonly string[];
}

/** A working tree's index file and where its pre-run bytes were copied (undefined: there was none). */
export interface IndexSnapshot {
  readonly worktree: string;
  readonly index: string;
  readonly copy: string | undefined;
}

/** Where the index of the working tree whose `.git` entry is `dotGit` lives (a directory or a gitlink file). */
function indexPathOf(dotGit: string): string | undefined {
  let st: Stats;
  try {
    st = lstatSync(dotGit);
  } catch {
    return undefined;
  }
  if (st.isDirectory()) return join(dotGit, "index");
  if (!st.isFile() || st.size > 4096) return undefined;
  const m = /^gitdir:\s*(.+?)\s*$/m.exec(readFileSync(dotGit, "utf8"));
  return m ? join(resolve(dirname(dotGit), m[1]!), "index") : undefined;
}

/**
 * Copies the index of every working tree whose index lies in a writable root into `dir` (before
 * the run), so an index the run rewrote with a forbidden path can be put back.
 */
export function snapshotIndexes(worktrees: readonly string[], writableRoots: readonly string[], dir: string): IndexSnapshot[] {
  const out: IndexSnapshot[] = [];
  for (const worktree of worktrees) {
    const index = indexPathOf(join(worktree, ".git"));
    if (!index || !writableRoots.some((r) => index.startsWith(r + "/"))) continue;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const copy = join(dir, `${out.length}-index`);
    try {
      copyFileSync(index, copy);
      out.push({ worktree, index, copy });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      out.push({ worktree, index, copy: undefined });
    }
  }
  return out;
}

/** Unicode code points HFS+ ignores in names (git's `is_hfs_dotgit`). */
const IGNORABLE = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/**
 * Why git must never check out `path` from an index, or undefined: a `.git` component in any
 * spelling some filesystem folds to it (case, trailing dots or spaces, `git~1`, HFS+ ignorables,
 * a backslash separator), an empty, `.` or `..` component, or a leading `/`.
 */
export function forbiddenIndexPath(path: string): string | undefined {
  if (path.startsWith("/")) return "absolute path";
  for (const part of path.split("/")) {
    if (part === "" || part === "." || part === "..") return `\`${part}\` component`;
    for (const sub of part.split("\\")) {
      const folded = sub.replace(IGNORABLE, "").toLowerCase().replace(/[. ]+$/, "");
      if (folded === ".git" || folded === "git~1" || folded.startsWith(".git:")) return "`.git` component";
    }
  }
  return undefined;
}

/** The index entries of `worktree` (`git ls-files --stage -z` of the host's git, hooks and fsmonitor off). */
function indexEntries(worktree: string, env: Readonly<Record<string, string | undefined>>): { mode: string; path: string }[] {
  let out: string;
  const clean = { ...env };
  for (const name of ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_CEILING_DIRECTORIES"]) delete clean[name];
  try {
    out = execFileSync("git", ["-c", "safe.directory=*", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "ls-files", "--stage", "-z"], {
      cwd: worktree,
      env: { ...clean, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0", GIT_CONFIG_NOSYSTEM: "1" },
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
  const entries: { mode: string; path: string }[] = [];
  for (const record of out.split("\0")) {
    const tab = record.indexOf("\t");
    if (tab > 0) entries.push({ mode: record.slice(0, record.indexOf(" ")), path: record.slice(tab + 1) });
  }
  return entries;
}

/**
 * What a `.git` entry is: its type and inode, and a symlink's target. Taken before the run for
 * every `.git` under the writable roots and compared after it.
 */
export function gitEntryIdentity(path: string): string {
  try {
    const st = lstatSync(path);
    const type = st.isDirectory() ? "d" : st.isFile() ? "f" : st.isSymbolicLink() ? "l" : "o";
    if (type !== "l") return `${type}:${st.dev}:${st.ino}`;
    // A link: its own text, and where the whole chain ends (a link further down can be re-pointed).
    const end = statSync(path, { throwIfNoEntry: false });
    return `l:${st.dev}:${st.ino}:${readlinkSync(path)}:${end ? `${realpathSync(path)}:${end.dev}:${end.ino}` : "-"}`;
  } catch {
    return "-";
  }
}

/** Entries walked under the writable roots for new `.git` entries before the check gives up (fail closed). */
const MAX_WALK_ENTRIES = 200_000;

/**
 * Git's own test for a repository directory (setup.c `is_git_directory`): a `HEAD` (file or link),
 * and `objects/` and `refs/` reachable (through symlinks) beside it or in the directory its
 * `commondir` names. A bare repository, a `.git` directory, a linked worktree's git directory.
 */
export function isRepositoryDir(dir: string): boolean {
  try {
    if (!lstatSync(join(dir, "HEAD"), { throwIfNoEntry: false })) return false;
    let base = dir;
    const common = lstatSync(join(dir, "commondir"), { throwIfNoEntry: false });
    if (common) {
      if (!common.isFile() || common.size > 4096) return true;
      base = resolve(dir, readFileSync(join(dir, "commondir"), "utf8").trim());
    }
    return statSync(join(base, "objects"), { throwIfNoEntry: false })?.isDirectory() === true && statSync(join(base, "refs"), { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    // unreadable: treat as a repository, so a planted one is never waved through
    return true;
  }
}

/**
 * What a repository directory is: the directory's inode, its `commondir` text, and where its
 * `objects/` and `refs/` lead. Recorded before the run for every one under the writable roots; one
 * that is new or differs after the run was planted or moved in (a bare repository moved onto
 * `src/` keeps its old timestamps).
 */
export function repositoryIdentity(dir: string): string {
  const id = (path: string): string => {
    const st = statSync(path, { throwIfNoEntry: false });
    return st ? `${st.dev}:${st.ino}` : "-";
  };
  let common = "";
  try {
    common = readFileSync(join(dir, "commondir"), "utf8").trim();
  } catch {
    // none
  }
  const base = common ? resolve(dir, common) : dir;
  return `${id(dir)}|${common}|${id(join(base, "objects"))}|${id(join(base, "refs"))}`;
}

/**
 * `.git` entries under `root`, and every other directory git would take for a repository
 * ({@link isRepositoryDir}: a bare one, or one split with `commondir`), never following symlinks
 * while walking; `node_modules` and `.git` are not entered.
 */
function dotGitsUnder(root: string, budget: { left: number }): { dotGits: string[]; repositories: string[] } {
  const out: string[] = [];
  const repositories: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (budget.left-- <= 0) throw new Error(`more than ${MAX_WALK_ENTRIES} entries under \`${root}\``);
      const path = join(dir, entry.name);
      if (entry.name === ".git") out.push(path);
      else if (entry.isDirectory() && entry.name !== "node_modules") stack.push(path);
    }
    if (entries.some((e) => e.name === "HEAD") && isRepositoryDir(dir)) repositories.push(dir);
  }
  return { dotGits: out, repositories };
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
    if (unmoved(join(snap.dir, "info"), dirIdentity(join(snap.dir, "info")))) {
      for (const name of GIT_INFO_FILES) {
        const path = join(snap.dir, name);
        const now = fingerprint(path, budget);
        if (now !== "-" && snap.entries.get(name) !== now) remove(path, "changed in a git directory's info/");
      }
    } else if (dirIdentity(join(snap.dir, "info")) !== "-") remove(join(snap.dir, "info"), "`info` is not a directory");
    for (const name of listNames(join(snap.dir, "worktrees"))) {
      if (!snap.worktrees.has(name)) remove(join(snap.dir, "worktrees", name), "new linked worktree created");
    }
    for (const name of moduleNames(join(snap.dir, "modules"))) {
      if (!snap.modules.has(name)) remove(join(snap.dir, "modules", name), "new submodule git directory created");
    }
  }
  if (!nested) return findings;
  const under = (path: string): boolean => nested.writableRoots.some((r) => path.startsWith(r + "/"));
  /** A parent swapped for a symlink would make the rename land elsewhere. */
  const realParent = (path: string): boolean => {
    try {
      return realpathSync(dirname(path)) === dirname(path);
    } catch {
      return false;
    }
  };
  // Every `.git` entry (directory or gitlink file) the run created anywhere under the writable
  // roots: host git enters such a repository as soon as any index (of any branch) names it.
  const placeholders = new Set(nested.placeholders ?? []);
  const budget = { left: MAX_WALK_ENTRIES };
  const roots = nested.writableRoots.filter((r) => !nested.writableRoots.some((o) => o !== r && r.startsWith(o + "/")));
  for (const root of roots) {
    const found = dotGitsUnder(root, budget);
    for (const dotGit of found.dotGits) {
      const was = nested.beforeIds?.get(dotGit);
      if (was !== undefined && was !== gitEntryIdentity(dotGit)) {
        if (!realParent(dotGit)) throw new Error(`the parent of \`${dotGit}\` is a symlink`);
        remove(dotGit, "`.git` entry replaced or re-pointed by the run (host git would follow it)");
        continue;
      }
      if (nested.before.has(dotGit) || placeholders.has(dotGit)) continue;
      if (!realParent(dotGit)) throw new Error(`the parent of \`${dotGit}\` is a symlink`);
      remove(dotGit, "repository created by the run (host git would enter it)");
    }
    // A repository planted in (or moved onto) an ordinary directory — bare, or split with
    // `commondir`, `objects` a symlink — is used by `cd src && git log` on the host, with its
    // config: its `HEAD` goes (and `commondir`), and git no longer sees a repository there.
    for (const dir of found.repositories) {
      const was = nested.beforeRepositories?.get(dir);
      if (was !== undefined && was === repositoryIdentity(dir)) continue;
      const why = was === undefined ? "repository created or moved in by the run (host git would use its config)" : "repository changed by the run (host git would use its config)";
      for (const name of ["HEAD", "commondir"]) {
        const path = join(dir, name);
        if (!lstatSync(path, { throwIfNoEntry: false })) continue;
        if (!realParent(path)) throw new Error(`the parent of \`${path}\` is a symlink`);
        remove(path, why);
      }
    }
  }
  const indexes = new Map((nested.indexes ?? []).map((i) => [i.worktree, i]));
  for (const worktree of nested.worktrees) {
    let bad: string | undefined;
    for (const { mode, path } of indexEntries(worktree, nested.env)) {
      const why = forbiddenIndexPath(path);
      if (why !== undefined) {
        bad ??= `${why} in \`${path}\``;
        continue;
      }
      if (mode !== "160000") continue;
      const dotGit = resolve(worktree, path, ".git");
      if (nested.before.has(dotGit) || !under(dotGit)) continue;
      let st: Stats;
      try {
        st = lstatSync(dotGit);
      } catch {
        continue;
      }
      if (!realParent(dotGit)) throw new Error(`the submodule path \`${dirname(dotGit)}\` is a symlink`);
      if (st.ctimeMs >= nested.sinceMs) remove(dotGit, "repository created by the run and registered as a submodule (host git would enter it)");
    }
    if (bad === undefined) continue;
    // The index names a path git must never write (`.git/hooks/pre-commit`): `git restore .` or a
    // checkout on the host would write it. The run's index goes to the quarantine, the pre-run one back.
    const snap = indexes.get(worktree);
    if (!snap) throw new Error(`the index of \`${worktree}\` lists a forbidden path (${bad}) and there is no pre-run copy to restore`);
    if (!realParent(snap.index)) throw new Error(`the git directory holding \`${snap.index}\` is a symlink`);
    remove(snap.index, `index rewritten with a forbidden path (${bad})`);
    if (snap.copy !== undefined) {
      const tmp = `${snap.index}.gatehouse-restore`;
      copyFileSync(snap.copy, tmp);
      renameSync(tmp, snap.index);
    }
    findings[findings.length - 1] = { path: snap.index, detail: `${findings[findings.length - 1]!.detail}; the index from before the run was restored` };
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
    // GIT_CONFIG makes `git config` (only) read that one file; every other git command ignores it.
    const forGit = { ...env };
    delete forGit.GIT_CONFIG;
    out = execFileSync("git", ["-c", "safe.directory=*", "config", "--list", "--show-origin", "--includes", "-z"], {
      cwd: worktree,
      env: { ...forGit, GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" },
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

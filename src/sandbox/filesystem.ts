import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmdirSync, statSync, unlinkSync, writeFileSync, type Stats } from "node:fs";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { SandboxError } from "./errors.js";
import { DATA_DIR_DECOYS, HOME_DECOYS, plantDecoy, type Decoy } from "./decoys.js";
import { gitConfigView, gitEntryIdentity, isRepositoryDir, repositoryIdentity } from "./gitguard.js";

/**
 * The filesystem view of a sandboxed run, planned on the host before bubblewrap starts.
 *
 * The view is built from nothing (bwrap's empty root) rather than from the host minus a deny
 * list: only system directories (/usr, /etc, /opt and the /bin, /lib links) are visible, read-only.
 * The home directory is an empty tmpfs, /tmp is a private per-run directory, /run and /var are
 * absent. So an unknown secret file (a token in ~/.config/something) is hidden without being
 * listed, and so are host Unix sockets (docker.sock, the ssh agent, D-Bus), which a read-only
 * mount would not stop (connect() ignores MS_RDONLY).
 *
 * Where a credential directory would be in the empty home (`~/.ssh`, `~/.aws`, …) and where the
 * data directory would be, a decoy stands (decoys.ts), so a read there is reported even when the
 * program stays silent.
 *
 * Inside that view the plan then masks what must never be read (the deny list, `.env` files,
 * the Gatehouse data directory, hard links to denied files) and pins what must never be written
 * even inside the working directory (files that run later outside the sandbox).
 */

/** Paths under the home directory that are never readable unless a profile names them. */
export const DENIED_HOME_PATHS = [
  ".ssh", ".aws", ".config/gcloud", ".kube", ".docker", ".npmrc", ".netrc", ".git-credentials", ".gnupg",
  ".password-store", ".config/gh", ".config/hub", ".azure", ".pgpass", ".my.cnf", ".pypirc", ".vault-token",
  ".cargo/credentials", ".cargo/credentials.toml", ".terraform.d/credentials.tfrc.json", ".config/op",
  ".local/share/keyrings", ".bash_history", ".zsh_history", ".zhistory", ".history", ".sh_history",
  ".python_history", ".node_repl_history", ".psql_history", ".mysql_history", ".sqlite_history", ".lesshst",
  ".local/share/fish/fish_history", ".mozilla", ".config/google-chrome", ".config/chromium",
  ".config/BraveSoftware", ".config/microsoft-edge", ".config/vivaldi", ".config/opera", ".var/app",
] as const;

/** Entries of {@link DENIED_HOME_PATHS} that are browser profiles (masked, not hunted for hard links). */
const BROWSER_PROFILES = [".mozilla", ".config/google-chrome", ".config/chromium", ".config/BraveSoftware", ".config/microsoft-edge", ".config/vivaldi", ".config/opera", ".var/app"];

/** Host system files that hold secrets even though their directory is visible. */
export const DENIED_SYSTEM_PATHS = [
  "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd", "/etc/ssl/private",
] as const;

/**
 * Paths (relative to a writable root) that are never writable unless a profile names them: each
 * runs later outside the sandbox (git hooks and config, direnv, npm/yarn config, husky, editor
 * tasks). Start-up files of the home directory (`homeOnly`, relative to the home directory) are
 * pinned in every writable root that is the home directory or lies inside it: a working
 * directory may never contain the home directory, but a profile's writable extras may.
 */
export const PROTECTED_PATHS: readonly { readonly path: string; readonly homeOnly?: boolean; readonly placeholder?: "file" | "dir" }[] = [
  { path: ".git/hooks" },
  { path: ".git/config", placeholder: "file" },
  { path: ".envrc" },
  { path: ".npmrc" },
  { path: ".yarnrc" },
  { path: ".yarnrc.yml" },
  { path: ".husky" },
  { path: ".vscode" },
  { path: ".idea" },
  // Hook managers' config, read by a hook that runs later (pre-commit, lefthook, lint-staged).
  ...[".pre-commit-config.yaml", "lefthook.yml", ".lefthook.yml", "lefthook-local.yml", ".lefthook-local.yml", ".lintstagedrc", ".lintstagedrc.json", ".lintstagedrc.yaml", ".lintstagedrc.yml", ".lintstagedrc.js", ".lintstagedrc.mjs", ".lintstagedrc.cjs"].map((path) => ({ path })),
  ...[
    ".bashrc", ".bash_profile", ".bash_login", ".bash_logout", ".bash_aliases", ".profile", ".zshrc", ".zshenv", ".zprofile", ".zlogin",
    ".inputrc", ".pam_environment", ".xprofile", ".config/fish", ".config/autostart", ".config/systemd/user", ".local/bin",
  ].map((path) => ({ path, homeOnly: true })),
  // Git's global config: a missing one gets an empty file (a directory there would break git).
  ...[".gitconfig", ".config/git/config"].map((path) => ({ path, homeOnly: true, placeholder: "file" as const })),
];

/** Directories visible read-only in every run (links are recreated as links). */
export const SYSTEM_PATHS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt"] as const;

/** Directories a working directory may not be in (or be): the host's own. */
const FORBIDDEN_WORKDIR_ROOTS = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/sys", "/dev", "/boot", "/run", "/var/run"];

/** Entries a per-run scan of writable roots reads before it refuses (fail closed). */
export const MAX_SCAN_ENTRIES = 200_000;

/** `.env`, `.env.local`, … but not the templates meant to be committed and read. */
const ENV_FILE = /^\.env(\..+)?$/;
const ENV_TEMPLATE = /\.(example|sample|template|dist|defaults)$/;

/** One mount in the order bwrap must apply it. */
export type MountOp =
  | { readonly op: "ro-bind" | "bind"; readonly src: string; readonly dest: string }
  | { readonly op: "symlink"; readonly target: string; readonly dest: string }
  | { readonly op: "tmpfs"; readonly dest: string; readonly sizeBytes: number }
  | { readonly op: "dir"; readonly dest: string };

/** Something the plan found that is worth a violation report before anything ran. */
export interface PlanFinding {
  readonly kind: "denied-read";
  readonly path: string;
  readonly detail: string;
}

/** A placeholder the plan created on the host; removed after the run if still untouched. */
export interface Placeholder {
  readonly path: string;
  readonly kind: "file" | "dir";
  readonly dev: number;
  readonly ino: number;
}

/** The filesystem view of one run. */
export interface FilesystemPlan {
  readonly mounts: readonly MountOp[];
  readonly workdir: string;
  readonly cwd: string;
  readonly home: string;
  readonly placeholders: readonly Placeholder[];
  /** Paths pinned inside writable roots (protected paths and the directories holding them). */
  readonly pinned: readonly string[];
  readonly findings: readonly PlanFinding[];
  /** Roots hidden from the run, for telling a denied read from a typo in violation reports. */
  readonly hiddenRoots: readonly string[];
  /** Git directories inside writable roots, checked against a snapshot after the run. */
  readonly gitDirs: readonly string[];
  /** Working trees of the repositories found in writable roots, and the `.git` entries seen before the run. */
  readonly gitWorktrees: readonly string[];
  readonly gitEntries: readonly string[];
  /** What each of those `.git` entries was before the run (`gitEntryIdentity`): one replaced or re-pointed is quarantined. */
  readonly gitEntryIds: ReadonlyMap<string, string>;
  /** Repository directories other than `.git` under the writable roots, with their `repositoryIdentity`. */
  readonly repositories: ReadonlyMap<string, string>;
  readonly writableRoots: readonly string[];
  /** Stand-in directories in the run directory made traversable-only (chmod back before removing). */
  readonly standIns: readonly string[];
  /** Decoys planted where hidden credential directories would be (see decoys.ts). */
  readonly decoys: readonly Decoy[];
}

/** What the plan needs to know. */
export interface FilesystemInput {
  readonly workdir: string;
  /** Directory relative workdir / extra paths resolve against; also the bound for a relative workdir. */
  readonly baseDir: string;
  /** True when `workdir` came from a profile (bounded by `baseDir`), false when it is the caller's cwd. */
  readonly workdirFromProfile: boolean;
  readonly cwd?: string;
  readonly workdirAccess: "read-only" | "read-write";
  readonly readable: readonly string[];
  readonly writable: readonly string[];
  readonly writableProtected: readonly string[];
  readonly home: string;
  readonly dataDir: string;
  /** Per-run control directory on the host, already created: holds the mask sources and decoys. */
  readonly runDir: string;
  /** The directory bound as the run's /tmp, already created (default `<runDir>/tmp`). */
  readonly tmpDir?: string;
  /**
   * Where decoy stand-ins are created (default `runDir`). They are bound read-write, so they
   * belong with the run's /tmp on disk, not on a memory file system a run could fill.
   */
  readonly decoyDir?: string;
  readonly homeSizeBytes: number;
  /**
   * The host environment git would run with later (HOME, XDG_CONFIG_HOME, GIT_CONFIG_*): when
   * given, the host's `git config --list --show-origin --includes` is asked, in each working tree
   * found, for every config file, include and `core.hooksPath` git would use.
   */
  readonly gitEnv?: Readonly<Record<string, string | undefined>>;
  /** Extras already resolved (e.g. approved widenings): each must still be its own real path. */
  readonly exactPaths?: readonly string[];
  /** More files never visible (the approvals database, its journal files); refused inside a writable root. */
  readonly extraDenied?: readonly string[];
  /** Plant decoys where hidden credential directories would be (they report only where access times move: `decoysWork`). */
  readonly decoys?: boolean;
}

const isWithin = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

function lstatOrUndefined(path: string): Stats | undefined {
  // throwIfNoEntry: a missing path is the common case here, and exceptions are slow.
  try {
    return lstatSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

function realpathOf(path: string, code: "workdir-invalid" | "path-invalid", what: string): string {
  try {
    return realpathSync(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new SandboxError(code, `${what} \`${path}\` cannot be resolved (${reason})`, "create it or fix the path in the profile");
  }
}

function expandHome(path: string, home: string, baseDir: string): string {
  if (path === "~") return home;
  if (path.startsWith("~/")) return join(home, path.slice(2));
  return resolve(baseDir, path);
}

/** Resolves and checks the working directory; throws `workdir-*` / `cwd-out-of-bounds`. */
export function resolveWorkdir(input: Pick<FilesystemInput, "workdir" | "baseDir" | "workdirFromProfile" | "cwd" | "home" | "dataDir">): { workdir: string; cwd: string } {
  const lexical = resolve(input.baseDir, input.workdir);
  const workdir = realpathOf(lexical, "workdir-invalid", "working directory");
  if (!statSync(workdir).isDirectory()) throw new SandboxError("workdir-invalid", `working directory \`${lexical}\` is not a directory`);
  if (input.workdirFromProfile && !isAbsolute(input.workdir)) {
    const base = realpathOf(input.baseDir, "workdir-invalid", "policy directory");
    if (!isWithin(workdir, base)) {
      throw new SandboxError("workdir-out-of-bounds", `working directory \`${input.workdir}\` resolves to \`${workdir}\`, outside \`${base}\``, "a relative workdir must stay inside the policy file's directory; remove the symlink or give an absolute path");
    }
  }
  const refuse = (why: string): never => {
    throw new SandboxError("workdir-out-of-bounds", `working directory \`${workdir}\` ${why}`, "run from a project directory");
  };
  if (workdir === "/") refuse("is the root directory");
  for (const root of FORBIDDEN_WORKDIR_ROOTS) if (isWithin(workdir, root)) refuse(`is inside the system directory \`${root}\``);
  const realHome = safeRealpath(input.home);
  if (isWithin(realHome, workdir)) refuse("contains the home directory");
  const dataDir = safeRealpath(input.dataDir);
  if (isWithin(dataDir, workdir) || isWithin(workdir, dataDir)) refuse("overlaps Gatehouse's data directory");
  for (const denied of DENIED_HOME_PATHS) {
    const path = join(input.home, denied);
    if (isWithin(workdir, path) || (lstatOrUndefined(path) && isWithin(workdir, safeRealpath(path)))) refuse(`is inside the denied path \`~/${denied}\``);
  }
  let cwd = workdir;
  if (input.cwd !== undefined) {
    cwd = realpathOf(resolve(input.baseDir, input.cwd), "workdir-invalid", "directory");
    if (!isWithin(cwd, workdir)) throw new SandboxError("cwd-out-of-bounds", `directory \`${input.cwd}\` is outside the working directory \`${workdir}\``, "pass a directory inside the profile's workdir");
  }
  return { workdir, cwd };
}

/** realpath when the path exists, the lexical path otherwise (for comparisons only). */
function safeRealpath(path: string): string {
  if (!lstatOrUndefined(path)) return resolve(path);
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/**
 * Plans the view of one run and creates the placeholders it needs. Call
 * {@link removePlaceholders} after the run, whatever happened.
 */
export function planFilesystem(input: FilesystemInput): FilesystemPlan {
  const { workdir, cwd } = resolveWorkdir(input);
  const home = input.home;
  const mounts: MountOp[] = [];
  const findings: PlanFinding[] = [];
  const placeholders: Placeholder[] = [];
  const pinned: string[] = [];
  const maskFile = join(input.runDir, "mask-file");
  const maskDir = join(input.runDir, "mask-dir");
  // Mode 000: with every capability dropped even uid 0 gets EACCES, so a masked read fails
  // loudly (and is reported) instead of returning an innocent-looking empty file.
  writeFileSync(maskFile, "", { mode: 0o000 });
  mkdirSync(maskDir, { mode: 0o000 });

  for (const path of SYSTEM_PATHS) {
    const st = lstatOrUndefined(path);
    if (!st) continue;
    if (st.isSymbolicLink()) mounts.push({ op: "symlink", target: readlinkSync(path), dest: path });
    else if (st.isDirectory()) mounts.push({ op: "ro-bind", src: path, dest: path });
  }
  mounts.push({ op: "bind", src: input.tmpDir ?? join(input.runDir, "tmp"), dest: "/tmp" });
  mounts.push({ op: "dir", dest: "/var" });
  mounts.push({ op: "symlink", target: "/tmp", dest: "/var/tmp" });
  mounts.push({ op: "tmpfs", dest: home, sizeBytes: input.homeSizeBytes });

  const dataDirReal = safeRealpath(input.dataDir);
  const extra = (paths: readonly string[], what: string): string[] =>
    paths.map((p) => {
      const real = realpathOf(expandHome(p, home, input.baseDir), "path-invalid", what);
      if (real === "/" || isWithin(real, dataDirReal)) {
        throw new SandboxError("path-invalid", `${what} \`${p}\` exposes Gatehouse's data directory or the whole host`, "name a narrower directory");
      }
      return real;
    });
  const readable = extra(input.readable, "readable path");
  const writable = extra(input.writable, "writable path");
  // Approved widenings were resolved once, when the approval was asked for; a path that resolves
  // differently now (a component swapped for a symlink since) is not what the approver saw.
  for (const p of input.exactPaths ?? []) {
    if (safeRealpath(p) !== p) throw new SandboxError("widening-invalid", `the approved path \`${p}\` now resolves to \`${safeRealpath(p)}\``, "a path changed between the approval and the run; nothing ran, ask again");
  }

  mounts.push({ op: input.workdirAccess === "read-write" ? "bind" : "ro-bind", src: workdir, dest: workdir });
  for (const p of readable) mounts.push({ op: "ro-bind", src: p, dest: p });
  for (const p of writable) mounts.push({ op: "bind", src: p, dest: p });

  const writableRoots = [...(input.workdirAccess === "read-write" ? [workdir] : []), ...writable];
  const visibleRoots = [workdir, ...readable, ...writable, ...SYSTEM_PATHS];

  // Decoys where a credential directory is hidden: neither visible through a root the profile
  // names nor holding one (those are masked below, or bound into the view).
  const decoys: Decoy[] = [];
  if (input.decoys) {
    const places: [string, readonly string[]][] = [...Object.entries(HOME_DECOYS).map(([rel, names]): [string, readonly string[]] => [join(home, rel), names]), [resolve(input.dataDir), DATA_DIR_DECOYS]];
    for (const [dest, names] of places) {
      if (visibleRoots.some((r) => isWithin(dest, r) || isWithin(r, dest))) continue;
      if (dest === "/" || (!isWithin(dest, home) && FORBIDDEN_WORKDIR_ROOTS.some((r) => isWithin(dest, r)))) continue;
      const decoy = plantDecoy(join(input.decoyDir ?? input.runDir, `decoy-${decoys.length}`), dest, names);
      decoys.push(decoy);
      mounts.push({ op: "bind", src: decoy.hostDir, dest });
    }
  }
  const explicit = [...readable, ...writable];

  // Deny list: mask what is visible unless the profile named exactly that path (or one inside it).
  const extraDenied = (input.extraDenied ?? []).map((p) => safeRealpath(p));
  for (const p of extraDenied) {
    const root = writableRoots.find((r) => isWithin(p, r));
    if (root) throw new SandboxError("workdir-out-of-bounds", `\`${p}\` (Gatehouse's approvals or audit database) is inside the writable directory \`${root}\``, "keep Gatehouse's databases out of the directories a run may write");
  }
  const denied = [
    ...DENIED_HOME_PATHS.map((p) => join(home, p)),
    input.dataDir,
    ...DENIED_SYSTEM_PATHS,
    ...sshHostKeys(),
    ...extraDenied,
  ];
  // A denied path may be a symlink (`~/.ssh -> ~/dotfiles/ssh`): what must be hidden is what it
  // resolves to, which a profile can make visible under another name (`readable: ["~/dotfiles"]`).
  // The target is masked wherever it is visible; a visible link needs no mount of its own, since
  // the kernel follows it to the masked target. A dangling link has nothing to hide.
  const maskTargets = new Set<string>();
  for (const path of denied) {
    const st = lstatOrUndefined(path);
    if (!st) continue;
    const real = safeRealpath(path);
    if (st.isSymbolicLink() && !lstatOrUndefined(real)) continue;
    if (!visibleRoots.some((root) => isWithin(real, root) && real !== root)) continue;
    // Named exactly: let in. A path named *inside* a denied directory (`~/.ssh/known_hosts`) keeps
    // the directory masked; that one path is bound again on top of the mask below.
    if (explicit.includes(real)) continue;
    maskTargets.add(real);
  }

  const deniedMasks = [...maskTargets];

  // Hard links: a denied file with more than one link may have a twin inside a visible root.
  // Browser profiles are large and hold no single file worth a planted hard link; skip them.
  const linked = deniedHardLinks(denied.filter((p) => !BROWSER_PROFILES.some((b) => p === join(home, b))));
  // The workdir and writable extras are walked for `.env` files; readable extras only when there
  // is a hard link to hunt (they may be large toolchains, and hold no `.env` of the project).
  const scanRoots = [...new Set([workdir, ...writable, ...(linked.size > 0 ? readable : [])])];
  const envRoots = new Set([workdir, ...writable]);
  const gitEntries = new Set<string>();
  // Repository directories that are not `.git` (bare ones, fixtures): protected like git
  // directories, and compared after the run with what is there then.
  const repositories = new Map<string, string>();
  for (const root of scanRoots) {
    const envScan = envRoots.has(root);
    walk(root, linked.size > 0, (path, st) => {
      const name = path.slice(path.lastIndexOf(sep) + 1);
      if (envScan && ENV_FILE.test(name) && !ENV_TEMPLATE.test(name)) maskTargets.add(path);
      if (st && linked.has(`${st.dev}:${st.ino}`) && !deniedMasks.some((m) => isWithin(path, m))) {
        maskTargets.add(path);
        findings.push({ kind: "denied-read", path, detail: `hard link to the denied file \`${linked.get(`${st.dev}:${st.ino}`) ?? ""}\` masked` });
      }
    }, envScan ? (path) => gitEntries.add(path) : undefined, envScan ? (dir) => {
      if (isRepositoryDir(dir)) repositories.set(dir, repositoryIdentity(dir));
    } : undefined);
  }

  // Pin protected paths in every writable root; they stay mount points, so they cannot be renamed away.
  const unprotected = input.writableProtected.map((p) => p.replace(/\/+$/, ""));
  const realHome = safeRealpath(home);
  const roPinned: string[] = [];
  let gitDirs: string[];
  try {
    for (const root of writableRoots) {
      for (const entry of PROTECTED_PATHS) {
        if (unprotected.some((u) => entry.path === u || entry.path.startsWith(u + "/"))) continue;
        if (!entry.homeOnly) {
          protectPath(root, entry.path, mounts, placeholders, pinned, roPinned, entry.placeholder);
          continue;
        }
        // Home start-up files: in any writable root that is the home directory or inside it.
        if (!isWithin(root, realHome)) continue;
        const target = join(realHome, entry.path);
        if (isWithin(root, target)) {
          throw new SandboxError("protected-path-unpinnable", `the writable path \`${root}\` is (inside) \`~/${entry.path}\`, whose files run later outside the sandbox`, "make it read-only, or name a directory that holds no start-up files");
        }
        if (!isWithin(target, root)) continue;
        protectPath(root, relative(root, target), mounts, placeholders, pinned, roPinned, entry.placeholder);
      }
    }
    // Git's own executable state beyond `.git/hooks` and `.git/config`: submodule and nested
    // repositories' hooks and config, worktree config, and a `core.hooksPath` directory; plus
    // what the host's git reads from outside `.git` (global config, includes, hooksPath).
    const git = gitProtectedPaths([...gitEntries], writableRoots, home, input.gitEnv, [...repositories.keys()]);
    gitDirs = git.gitDirs;
    for (const target of git.targets) {
      if (writableRoots.includes(target.path)) {
        // `core.hooksPath = .`: hooks are files directly in a writable root, which cannot be pinned as a whole.
        throw new SandboxError("protected-path-unpinnable", `a git \`core.hooksPath\` is the writable directory \`${target.path}\` itself, so hooks written there would run later outside the sandbox`, "point core.hooksPath at a subdirectory (e.g. .githooks), or run with a read-only profile");
      }
      const root = writableRoots.find((r) => isWithin(target.path, r) && target.path !== r);
      if (!root) continue;
      const rel = relative(root, target.path);
      if (unprotected.some((u) => rel === u || rel.startsWith(u + "/"))) continue;
      protectPath(root, rel, mounts, placeholders, pinned, roPinned, target.placeholder);
    }
  } catch (error) {
    removePlaceholders(placeholders);
    throw error;
  }

  const maskedDirs: string[] = [];
  const standIns: string[] = [];
  const rebind: string[] = [];
  for (const target of [...maskTargets].sort()) {
    // Inside a directory already masked: hidden with it (and bwrap could not mount there).
    if (maskedDirs.some((d) => isWithin(target, d))) continue;
    const st = lstatOrUndefined(target);
    if (!st) continue;
    const inside = st.isDirectory() ? explicit.filter((e) => isWithin(e, target) && e !== target) : [];
    if (st.isDirectory()) maskedDirs.push(target);
    if (inside.length === 0) {
      mounts.push({ op: "ro-bind", src: st.isDirectory() ? maskDir : maskFile, dest: target });
      continue;
    }
    // Paths the profile named inside a denied directory: the directory is replaced by a stand-in
    // that holds only empty mount points for them (execute-only: it cannot be listed), and each
    // named path is bound onto its mount point after the masks.
    const standIn = join(input.runDir, `mask-dir-${standIns.length}`);
    standIns.push(standIn);
    mkdirSync(standIn, { mode: 0o700 });
    const made: string[] = [standIn];
    for (const e of inside) {
      const parts = relative(target, e).split(sep);
      let at = standIn;
      for (let i = 0; i < parts.length; i++) {
        at = join(at, parts[i]!);
        const last = i === parts.length - 1;
        if (lstatOrUndefined(at)) continue;
        if (last && !statOrUndefined(e)?.isDirectory()) writeFileSync(at, "", { mode: 0o000 });
        else {
          mkdirSync(at, { mode: 0o700 });
          if (!last) made.push(at);
        }
      }
      rebind.push(e);
    }
    for (const d of made.reverse()) chmodSync(d, 0o111);
    mounts.push({ op: "ro-bind", src: standIn, dest: target });
  }
  for (const e of rebind.sort()) mounts.push({ op: writable.includes(e) ? "bind" : "ro-bind", src: e, dest: e });

  const hiddenRoots = [home, "/run", "/var", "/home", "/root", "/mnt", "/media", "/srv", "/proc/1/root", input.dataDir];
  const gitWorktrees = [...new Set([...gitEntries].map((g) => g.slice(0, g.lastIndexOf(sep)) || "/"))].filter((t) => writableRoots.some((r) => isWithin(t, r))).sort();
  return { mounts, workdir, cwd, home, placeholders, pinned, findings, hiddenRoots, gitDirs, standIns, gitWorktrees, gitEntries: [...gitEntries], gitEntryIds: new Map([...gitEntries].map((g) => [g, gitEntryIdentity(g)])), repositories, writableRoots, decoys };
}

function sshHostKeys(): string[] {
  try {
    return readdirSync("/etc/ssh").filter((n) => /^ssh_host_.*_key$/.test(n)).map((n) => join("/etc/ssh", n));
  } catch {
    return [];
  }
}

/** Entries read under denied paths while hunting for hard links before the run is refused. */
export const MAX_DENIED_SCAN_ENTRIES = 20_000;

/**
 * `dev:ino` → path of every denied regular file that has more than one link. If the denied
 * directories hold more than {@link MAX_DENIED_SCAN_ENTRIES} entries the run is refused: a partial
 * hunt could miss the one twin that matters.
 */
function deniedHardLinks(denied: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  let budget = MAX_DENIED_SCAN_ENTRIES;
  const seen = new Set<string>();
  const visit = (path: string, top = false): void => {
    if (budget-- <= 0) {
      throw new SandboxError("denied-scan-too-large", `more than ${MAX_DENIED_SCAN_ENTRIES} entries under the denied paths (at \`${path}\`); hard links to them cannot all be checked`, "move bulky data out of the credential directories (e.g. ~/.gnupg, ~/.password-store)");
    }
    let st = lstatOrUndefined(path);
    // A denied path that is itself a symlink (`~/.aws -> ~/dotfiles/aws`) is followed once; links
    // found inside denied directories are not (they point elsewhere, and may loop).
    if (top && st?.isSymbolicLink()) st = statOrUndefined(path);
    if (!st) return;
    const key = `${st.dev}:${st.ino}`;
    if (st.isFile() && st.nlink > 1) out.set(key, path);
    if (st.isDirectory()) {
      if (seen.has(key)) return;
      seen.add(key);
      let names: string[];
      try {
        names = readdirSync(path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // Gone, or closed to this user (and so to the run, which has no more rights): nothing to find.
        if (code === "ENOENT" || code === "EACCES" || code === "EPERM") return;
        // Any other failure could hide a hard link the run would reach.
        throw new SandboxError("setup-failed", `cannot look for hard links in denied \`${path}\` (${(error as NodeJS.ErrnoException).code ?? "error"})`, "make it listable by this user, or remove it");
      }
      for (const name of names) visit(join(path, name));
    }
  };
  for (const path of denied) visit(path, true);
  return out;
}

/**
 * Walks a root without following symlinks. `.git` and `node_modules` are skipped unless `stat`
 * is needed (hard-link hunting), since a `.env` there is not the user's.
 */
function walk(root: string, withStat: boolean, visit: (path: string, st: Stats | undefined) => void, onGit?: (path: string) => void, onHead?: (dir: string) => void): void {
  const stack = [root];
  let seen = 0;
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (++seen > MAX_SCAN_ENTRIES) {
        throw new SandboxError(
          "workdir-too-large",
          `more than ${MAX_SCAN_ENTRIES} entries under \`${root}\`; the scan for .env files and hard links to denied files cannot finish`,
          "point the profile's workdir (and its readable/writable extras) at what the command needs, not a parent of many projects; readable extras are scanned only while a denied file has a second hard link",
        );
      }
      const path = join(dir, entry.name);
      if (entry.name === ".git") onGit?.(path);
      if (entry.isDirectory()) {
        if (withStat || (entry.name !== "node_modules" && entry.name !== ".git")) stack.push(path);
        continue;
      }
      if (entry.isFile() || entry.isSymbolicLink()) visit(path, withStat && entry.isFile() ? lstatOrUndefined(path) : undefined);
    }
    if (onHead && entries.some((e) => e.name === "HEAD")) onHead(dir);
  }
}

/**
 * Makes `rel` under `root` unwritable: intermediate directories become read-write self-binds (so
 * they are mount points and cannot be renamed to slip a fresh copy in), the path itself a
 * read-only self-bind. A missing component gets an empty directory created on the host as a
 * placeholder, bound read-only, so the name cannot be created either (an empty directory stays
 * out of `git status`, and npm and yarn skip a directory where they look for an rc file). The
 * placeholder is removed after the run.
 */
function protectPath(root: string, rel: string, mounts: MountOp[], placeholders: Placeholder[], pinned: string[], roPinned: string[], placeholder: "file" | "dir" = "dir"): void {
  const parts = rel.split("/");
  let path = root;
  for (let i = 0; i < parts.length; i++) {
    path = join(path, parts[i]!);
    // Already read-only (a pinned path or a placeholder above this one, e.g. the `.git`
    // placeholder of a directory that is no repository): nothing under it can be written, and a
    // read-write bind of a component here would undo the pin.
    if (roPinned.some((d) => isWithin(path, d))) return;
    if (!pinned.includes(path)) pinned.push(path);
    const last = i === parts.length - 1;
    const st = lstatOrUndefined(path);
    if (st?.isSymbolicLink()) {
      throw new SandboxError("protected-path-symlink", `\`${relative(root, path)}\` in \`${root}\` is a symlink; a protected path must be a real file or directory`, `replace the symlink, or list \`${rel}\` under writableProtected in the profile`);
    }
    if (!st) {
      // A missing parent is always a directory; the last component may be an empty file where a
      // directory would break the tool that reads it (git's `config`).
      const kind = last ? placeholder : "dir";
      if (kind === "dir") mkdirSync(path, { mode: 0o555 });
      else writeFileSync(path, "", { flag: "wx", mode: 0o444 });
      const created = lstatSync(path);
      placeholders.push({ path, kind, dev: created.dev, ino: created.ino });
      addMount(mounts, { op: "ro-bind", src: path, dest: path }, roPinned);
      roPinned.push(path);
      return;
    }
    if (last || !st.isDirectory()) {
      addMount(mounts, { op: "ro-bind", src: path, dest: path }, roPinned);
      roPinned.push(path);
      return;
    }
    addMount(mounts, { op: "bind", src: path, dest: path }, roPinned);
  }
}

/** Most git directories (repository, submodules, worktrees) one run protects before it refuses. */
export const MAX_GIT_DIRS = 1000;

/** A path inside a git directory that runs later outside the sandbox, and what stands in when it is missing. */
interface GitTarget {
  readonly path: string;
  readonly placeholder: "file" | "dir";
}

function readSmall(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (!st.isFile() || st.size > 65_536) return undefined;
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** `core.hooksPath` values in one git config file (every section named `core`, any case). */
function hooksPathsIn(config: string): string[] {
  const out: string[] = [];
  let inCore = false;
  for (const raw of config.split("\n")) {
    const line = raw.trim();
    const section = /^\[\s*([A-Za-z0-9.-]+)(?:\s+"[^"]*")?\s*\]/.exec(line);
    if (section) {
      inCore = section[1]!.toLowerCase() === "core";
      const rest = line.slice(section[0].length).trim();
      if (!inCore || rest === "") continue;
      const m = /^hookspath\s*=\s*(.*)$/i.exec(rest);
      if (m) out.push(unquote(m[1]!));
      continue;
    }
    if (!inCore) continue;
    const m = /^hookspath\s*=\s*(.*)$/i.exec(line);
    if (m) out.push(unquote(m[1]!));
  }
  return out.filter((v) => v !== "");
}

function unquote(value: string): string {
  const v = value.replace(/\s+[#;].*$/, "").trim();
  return v.startsWith('"') && v.endsWith('"') && v.length >= 2 ? v.slice(1, -1) : v;
}

/**
 * What git runs later, found from the `.git` entries of the writable roots: for every git
 * directory (a `.git` directory, the target of a `.git` file, its common directory, each
 * `modules/**` submodule and `worktrees/*` entry) its `hooks` and `config` (and `config.worktree`),
 * plus each `core.hooksPath` directory its config names. Only paths inside a writable root
 * matter (everything else is read-only or absent in the sandbox).
 */
function gitProtectedPaths(
  dotGits: readonly string[],
  writableRoots: readonly string[],
  home: string,
  gitEnv: Readonly<Record<string, string | undefined>> | undefined,
  repositories: readonly string[],
): { targets: GitTarget[]; gitDirs: string[] } {
  const targets = new Map<string, GitTarget>();
  const add = (path: string, placeholder: "file" | "dir"): void => {
    if (writableRoots.some((r) => isWithin(path, r)) && !targets.has(path)) targets.set(path, { path, placeholder });
  };
  const seen = new Set<string>();
  // (git directory, its working tree) pairs still to look at
  const queue: { dir: string; worktree: string | undefined }[] = [];
  const enqueue = (dir: string, worktree: string | undefined): void => {
    const st = statOrUndefined(dir);
    if (!st?.isDirectory()) return;
    const real = safeRealpath(dir);
    if (seen.has(real)) return;
    if (seen.size >= MAX_GIT_DIRS) {
      throw new SandboxError("workdir-too-large", `more than ${MAX_GIT_DIRS} git directories (submodules, worktrees) under the writable roots; they cannot all be protected`, "point the profile's workdir at one project");
    }
    seen.add(real);
    queue.push({ dir: real, worktree });
  };
  for (const dotGit of dotGits) {
    const st = lstatOrUndefined(dotGit);
    const top = dotGit.slice(0, dotGit.lastIndexOf(sep)) || "/";
    // A `.git` symlink (`sub/.git -> ../.sub-git`) is followed like a gitlink: git does.
    const target = st?.isSymbolicLink() ? statOrUndefined(dotGit) : st;
    if (target?.isDirectory()) enqueue(dotGit, top);
    else if (target?.isFile()) {
      // A gitlink (`gitdir: …`, in submodules and worktrees) is pinned too: rewritten, it would
      // point git at hooks the sandbox planted. Through a link, the file it leads to is pinned (a
      // link cannot be a mount point); the link itself is checked after the run.
      add(st?.isSymbolicLink() ? safeRealpath(dotGit) : dotGit, "file");
      const m = /^gitdir:\s*(.+?)\s*$/m.exec(readSmall(dotGit) ?? "");
      if (m) enqueue(resolve(top, m[1]!), top);
    }
  }
  for (const dir of repositories) enqueue(dir, undefined);
  while (queue.length > 0) {
    const { dir, worktree } = queue.shift()!;
    const common = readSmall(join(dir, "commondir"))?.trim();
    const configs = [join(dir, "config"), join(dir, "config.worktree")];
    if (common) {
      // A linked worktree's own directory: hooks and config live in the common directory.
      enqueue(resolve(dir, common), undefined);
      const worktreeConfig = join(dir, "config.worktree");
      const commonConfig = readSmall(join(resolve(dir, common), "config")) ?? "";
      if (lstatOrUndefined(worktreeConfig) || /^\s*worktreeconfig\s*=\s*(true|yes|on|1)\s*$/im.test(commonConfig)) add(worktreeConfig, "file");
      configs.push(join(resolve(dir, common), "config"));
    } else {
      add(join(dir, "hooks"), "dir");
      add(join(dir, "config"), "file");
      if (lstatOrUndefined(join(dir, "config.worktree"))) add(join(dir, "config.worktree"), "file");
      for (const sub of submoduleDirs(join(dir, "modules"))) enqueue(sub, undefined);
      let worktrees: string[] = [];
      try {
        worktrees = readdirSync(join(dir, "worktrees"));
      } catch {
        // none
      }
      for (const name of worktrees) enqueue(join(dir, "worktrees", name), undefined);
    }
    if (worktree !== undefined && gitEnv !== undefined) {
      // What the host's git itself reads here: system and global config, includes (followed),
      // worktree config, and every core.hooksPath — wherever they live.
      let view;
      try {
        view = gitConfigView(worktree, gitEnv, home);
      } catch (error) {
        throw new SandboxError("setup-failed", `cannot learn which git config files and hooks apply in \`${worktree}\`: ${error instanceof Error ? error.message : String(error)}`, "fix the git configuration (run `git config --list --show-origin` there); nothing ran");
      }
      for (const file of [...(view?.files ?? []), ...(view?.includes ?? [])]) add(safeRealpath(file), "file");
      for (const hooks of view?.hooksPaths ?? []) add(safeRealpath(hooks), "dir");
      for (const program of view?.programs ?? []) add(safeRealpath(program), "file");
    }
    for (const config of configs) {
      for (const hooksPath of hooksPathsIn(readSmall(config) ?? "")) {
        // Relative to the working tree's top (git's rule for non-bare repositories), else the git dir.
        const expanded = hooksPath === "~" ? home : hooksPath.startsWith("~/") ? join(home, hooksPath.slice(2)) : resolve(worktree ?? dir, hooksPath);
        add(safeRealpath(expanded), "dir");
      }
    }
  }
  const gitDirs = [...seen].filter((d) => writableRoots.some((r) => isWithin(d, r)));
  return { targets: [...targets.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)), gitDirs };
}

/** Git directories of submodules under `modules/` (names may hold slashes; each has a HEAD). */
function submoduleDirs(modules: string, depth = 0): string[] {
  if (depth > 8) return [];
  let entries;
  try {
    entries = readdirSync(modules, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(modules, entry.name);
    if (lstatOrUndefined(join(path, "HEAD"))) out.push(path);
    else out.push(...submoduleDirs(path, depth + 1));
  }
  return out;
}

function addMount(mounts: MountOp[], mount: MountOp, roPinned: readonly string[]): void {
  if (mounts.some((m) => m.dest === mount.dest && m.op === mount.op)) return;
  // Never a read-write bind over (or under) a path already pinned read-only: it would win.
  if (mount.op === "bind" && roPinned.some((d) => isWithin(mount.dest, d))) return;
  mounts.push(mount);
}

/** Removes the placeholders a plan created, if nothing else replaced or filled them meanwhile. */
export function removePlaceholders(placeholders: readonly Placeholder[]): void {
  for (const p of [...placeholders].reverse()) {
    const st = lstatOrUndefined(p.path);
    if (!st || st.dev !== p.dev || st.ino !== p.ino) continue;
    try {
      if (p.kind === "dir" && st.isDirectory()) rmdirSync(p.path);
      else if (p.kind === "file" && st.isFile() && st.size === 0) unlinkSync(p.path);
    } catch {
      // Not empty any more: someone on the host put something there; leave it.
    }
  }
}

import { realpathSync } from "node:fs";
import { basename, dirname, isAbsolute, join, posix, resolve } from "node:path";

/**
 * Credential stores no tool may read or write, whatever the allowed directories say (relative
 * to the home directory). Threat: a prompt-injected agent that reads `~/.ssh/id_ed25519` or
 * `~/.aws/credentials` has the keys to everything the developer can reach.
 */
export const NEVER_READABLE_HOME = [
  ".ssh",
  ".aws",
  ".config/gcloud",
  ".kube",
  ".docker/config.json",
  ".npmrc",
  ".netrc",
  ".gnupg",
  ".git-credentials",
  ".pgpass",
  ".azure",
  ".config/gh",
] as const;

/** `.env` templates hold no values; every other `.env` / `.env.*` file is treated as secrets. */
const ENV_TEMPLATES = new Set([".env.example", ".env.sample", ".env.template", ".env.dist"]);

/** What the file tools and the Bash analyser may reach. */
export interface PathRules {
  readonly home: string;
  readonly cwd: string;
  /** Absolute, normalised. */
  readonly allow: readonly string[];
  /** Absolute, normalised; nothing under them is read or written. */
  readonly never: readonly string[];
  /** Absolute, normalised; readable, but no tool may change them (the hook's own settings, the policy). */
  readonly neverWritable: readonly string[];
  /** Resolves symlinks; throws when the path does not exist. Injected for tests. */
  readonly realpath?: (path: string) => string;
}

export type PathAccess = "read" | "write";

export type PathJudgement =
  | { readonly verdict: "allow"; readonly path: string }
  | { readonly verdict: "ask" | "deny"; readonly path: string; readonly reason: string };

/**
 * Turns a path as a tool received it into an absolute, normalised one: `~` expanded, relative
 * paths resolved against `cwd`, `.`/`..` folded. The kernel sees the same file.
 *
 * @example
 * expandPath("~/src/../.ssh/id_rsa", { home: "/home/me", cwd: "/work" }) // "/home/me/.ssh/id_rsa"
 */
export function expandPath(raw: string, where: { home: string; cwd: string }): string {
  let path = raw;
  if (path === "~") path = where.home;
  else if (path.startsWith("~/")) path = join(where.home, path.slice(2));
  const absolute = isAbsolute(path) ? path : resolve(where.cwd, path);
  const normal = posix.resolve("/", posix.normalize(absolute));
  return normal.length > 1 && normal.endsWith("/") ? normal.slice(0, -1) : normal;
}

/**
 * The path the kernel would open: symlinks resolved for the longest prefix that exists, the
 * rest appended. Threat: `ln -s ~/.ssh project/keys` makes `project/keys/id_rsa` a credential.
 */
export function resolveReal(path: string, realpath: (p: string) => string = realpathSync.native): string {
  const rest: string[] = [];
  let current = path;
  for (let i = 0; i < 256; i++) {
    try {
      const real = realpath(current);
      return rest.length === 0 ? real : join(real, ...rest.reverse());
    } catch {
      const parent = dirname(current);
      if (parent === current) return path;
      rest.push(basename(current));
      current = parent;
    }
  }
  return path;
}

/** True when `path` names a `.env` file with values (not a template). */
export function isEnvFile(path: string): boolean {
  const name = basename(path);
  return (name === ".env" || name.startsWith(".env.")) && !ENV_TEMPLATES.has(name);
}

/** The reason `path` (absolute, normalised) is protected, or undefined. */
function protectedReason(path: string, rules: PathRules, access: PathAccess): string | undefined {
  for (const root of rules.never) if (isWithinPrefix(path, root)) return `\`${path}\` is inside \`${root}\`, a credential store no tool may read`;
  if (isEnvFile(path)) return `\`${path}\` is a .env file, which holds secrets`;
  if (access === "write") for (const root of rules.neverWritable) if (isWithinPrefix(path, root)) return `\`${path}\` guards the agent itself; only a person changes it`;
  return undefined;
}

/**
 * Judges one path a file tool wants to reach: `deny` for a credential store (by its name or
 * by where its symlinks lead), for a write outside the allowed directories; `ask` for a read
 * outside them; `allow` otherwise.
 *
 * @example
 * judgePath("~/.aws/credentials", "read", rules) // { verdict: "deny", reason: "… credential store …" }
 */
export function judgePath(raw: string, access: PathAccess, rules: PathRules): PathJudgement {
  if (raw.includes("\0")) return { verdict: "deny", path: raw, reason: "the path contains a NUL byte" };
  const lexical = expandPath(raw, rules);
  const real = resolveReal(lexical, rules.realpath);
  const reason = protectedReason(lexical, rules, access) ?? (real === lexical ? undefined : protectedReason(real, rules, access));
  if (reason) return { verdict: "deny", path: lexical, reason: real === lexical ? reason : `${reason} (\`${lexical}\` leads there)` };
  // The kernel opens `real`: it, not the name the agent wrote, must lie inside an allowed directory.
  if (rules.allow.some((root) => isWithinPrefix(real, root))) return { verdict: "allow", path: lexical };
  const where = real === lexical ? `\`${lexical}\`` : `\`${lexical}\` (really \`${real}\`)`;
  if (access === "write") return { verdict: "deny", path: lexical, reason: `${where} is outside the allowed directories (${rules.allow.join(", ")})` };
  return { verdict: "ask", path: lexical, reason: `${where} is outside the allowed directories (${rules.allow.join(", ")})` };
}

/**
 * True when a recursive reader started at `path` would reach a credential store
 * (`grep -r token ~` reads `~/.ssh`).
 */
export function containsProtected(path: string, rules: PathRules): string | undefined {
  const real = resolveReal(path, rules.realpath);
  for (const root of rules.never) {
    if (isWithinPrefix(root, path) || isWithinPrefix(root, real)) return root;
  }
  return undefined;
}

/**
 * True when the glob `pattern` (absolute, after `~` expansion) can name a protected path or a
 * file below one: `~/.ss*` and `/home/*\/.aws/credentials` both can.
 */
export function globReachesProtected(pattern: string, rules: PathRules): string | undefined {
  const segments = pattern.split("/").filter(Boolean);
  for (const root of rules.never) {
    const rootSegments = root.split("/").filter(Boolean);
    if (segments.length === 0) continue;
    const n = Math.min(segments.length, rootSegments.length);
    let matches = true;
    for (let i = 0; i < n; i++) {
      if (segments[i] === "**") break;
      if (!matchSegment(segments[i]!, rootSegments[i]!)) {
        matches = false;
        break;
      }
    }
    if (matches) return root;
  }
  const last = segments.at(-1);
  if (last && (matchSegment(last, ".env") || matchSegment(last, ".env.local") || matchSegment(last, ".env.production"))) return ".env files";
  return undefined;
}

/** Bash's default (no `dotglob`): a pattern matches a leading `.` only when it starts with one. */
function matchSegment(pattern: string, name: string): boolean {
  if (name.startsWith(".") && !pattern.startsWith(".")) return false;
  return globSegment(pattern).test(name);
}

function globSegment(segment: string): RegExp {
  let source = "";
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i]!;
    if (c === "*") source += "[^/]*";
    else if (c === "?") source += "[^/]";
    else if (c === "[") {
      const end = segment.indexOf("]", i + 1);
      if (end < 0) source += "\\[";
      else {
        const body = segment.slice(i + 1, end).replace(/^!/, "^").replace(/\\/g, "\\\\");
        source += `[${body}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\]/g, "\\$&");
  }
  try {
    return new RegExp(`^${source}$`);
  } catch {
    return /^/; // an unreadable class matches anything: the caller then treats the glob as reaching the store
  }
}

/**
 * True when `path` is `root` or lies below it (`/srv/data` does not admit `/srv/database`).
 * Kept here rather than imported from src/policy so the hook's start-up does not load the
 * policy compiler when it only forwards to the hook server.
 */
export function isWithinPrefix(path: string, root: string): boolean {
  const base = root.length > 1 && root.endsWith("/") ? root.slice(0, -1) : root;
  if (base === "/") return path.startsWith("/");
  return path === base || path.startsWith(`${base}/`);
}

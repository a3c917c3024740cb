import { posix } from "node:path";

/** Why a path argument was refused before any prefix check. */
export type PathRefusal = "not-a-string" | "nul-byte" | "bad-encoding" | "nested-encoding" | "empty";

export type NormalizedPath = { ok: true; path: string } | { ok: false; refusal: PathRefusal; message: string };

/**
 * Normalises a path argument the way the tool will see it, so prefix checks compare like with like:
 * percent-decoding, then `.`/`..` segments and repeated slashes folded.
 *
 * Threat: `/srv/data/../../etc/passwd`, `/srv/data/%2e%2e/%2e%2e/etc/passwd` and
 * `/srv/data//..//../etc/passwd` must all fail a `/srv/data/` prefix. A value that still decodes
 * after one round (`%252e`) is refused rather than guessed at: no tool should need it, and the
 * layer that decodes twice is exactly where traversal bugs live.
 *
 * @example
 * normalizePath("/srv/data/../../etc/passwd") // { ok: true, path: "/etc/passwd" }
 */
export function normalizePath(value: unknown): NormalizedPath {
  if (typeof value !== "string") return { ok: false, refusal: "not-a-string", message: "path must be a string" };
  if (value.length === 0) return { ok: false, refusal: "empty", message: "path must not be empty" };
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return { ok: false, refusal: "bad-encoding", message: "path has a malformed percent-encoding" };
  }
  if (/%[0-9a-fA-F]{2}/.test(decoded)) {
    return { ok: false, refusal: "nested-encoding", message: "path is percent-encoded more than once" };
  }
  if (decoded.includes("\0")) return { ok: false, refusal: "nul-byte", message: "path contains a NUL byte" };
  const absolute = decoded.startsWith("/");
  let path = posix.normalize(decoded);
  if (absolute) {
    // posix.normalize keeps `..` that climb above the root of a relative path; for an absolute
    // path, resolve pins them at `/`, which is what the kernel does.
    path = posix.resolve("/", path);
  }
  if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
  return { ok: true, path };
}

/**
 * True when the normalised `path` is `prefix` itself or lies below it. A prefix of `/srv/data`
 * does not admit `/srv/database`.
 */
export function isWithinPrefix(path: string, prefix: string): boolean {
  const root = prefix.length > 1 && prefix.endsWith("/") ? prefix.slice(0, -1) : prefix;
  if (root === "/") return path.startsWith("/");
  return path === root || path.startsWith(`${root}/`);
}

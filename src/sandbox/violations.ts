import { isAbsolute, normalize, sep } from "node:path";

/**
 * What a run tried and was stopped from doing. `evidence` says how we know:
 * - `runner`: Gatehouse itself stopped it (timeout, output cap, masked path found before the run);
 * - `kernel`: a counter the kernel keeps (OOM kills, refused forks) or the signal that ended the run;
 * - `proxy`: the in-namespace forwarder saw it (DNS lookups);
 * - `decoy`: the kernel's access time on a decoy planted where a hidden credential directory would
 *   be (decoys.ts): the program looked there, whatever it printed;
 * - `stderr`: read from the program's own error output. The denial never depends on this report:
 *   a program that swallows its errors is still denied, it just goes unreported.
 */
export interface Violation {
  readonly kind: "denied-read" | "denied-write" | "blocked-connection" | "blocked-syscall" | "limit";
  readonly limit?: "timeout" | "cpu" | "memory" | "processes" | "output" | "file-size";
  readonly path?: string;
  readonly detail: string;
  readonly evidence: "runner" | "kernel" | "proxy" | "decoy" | "stderr";
}

/** The first lines of stderr the classifier reads; a flood cannot make classification slow. */
export const MAX_CLASSIFIED_STDERR = 64 * 1024;

const QUOTED_PATH = /['"`‘]((?:\/|\.)[^'"`’\n]*)['"`’]/;
const BARE_PATH = /(?:^|[\s:(])((?:\/|\.{1,2}\/)[^\s:'"`]+)/;
/** coreutils style: `cat: key-link: No such file or directory`, `touch: cannot touch 'x': …`. */
const TOOL_PATH = /^[\w.+-]+: (?:\d+: )?(?:cannot [\w ]+? )?['‘"]?([^:'’" ]+)['’"]?: [A-Z][a-z]/;

function pathIn(line: string): string | undefined {
  return QUOTED_PATH.exec(line)?.[1] ?? TOOL_PATH.exec(line)?.[1] ?? BARE_PATH.exec(line)?.[1];
}

/** `/proc/self/root/x`, `/proc/1/root/x` → `/x`: the same file seen through procfs. */
function canonical(path: string, cwd: string): string {
  const abs = normalize(isAbsolute(path) ? path : `${cwd}/${path}`);
  return abs.replace(/^\/proc\/(?:self|thread-self|\d+)\/root(?=\/)/, "");
}

const within = (child: string, parent: string): boolean => child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);

/**
 * Reads violations out of a program's stderr (evidence `stderr`). `hidden` are the roots hidden
 * from the run and `denied` the masked paths: a "no such file" there is a denied read, not a typo.
 */
export function classifyStderr(
  text: string,
  context: {
    readonly cwd: string;
    readonly hidden: readonly string[];
    readonly denied: readonly string[];
    /** Paths pinned read-only inside writable roots (git hooks, rc files). */
    readonly protected: readonly string[];
    /** Resolves a path as the host sees it (symlinks planted in the workspace), or returns it. */
    readonly resolve?: (path: string) => string;
  },
): Violation[] {
  const out: Violation[] = [];
  const seen = new Set<string>();
  const add = (v: Violation): void => {
    const key = `${v.kind}:${v.path ?? v.detail}`;
    if (seen.has(key) || out.length >= 50) return;
    seen.add(key);
    out.push(v);
  };
  // A traceback names the call a few lines above the error, so keywords are looked up in a window.
  const window: string[] = [];
  for (const raw of text.slice(0, MAX_CLASSIFIED_STDERR).split("\n")) {
    const line = raw.trim().slice(0, 500);
    if (!line) continue;
    window.push(line);
    if (window.length > 4) window.shift();
    const recent = window.join("\n");
    const found = pathIn(line);
    const path = found ? canonical(found, context.cwd) : undefined;
    const target = path && context.resolve ? context.resolve(path) : path;
    const detail = line;
    const isProtected = path !== undefined && context.protected.some((p) => within(path, p));
    if (isProtected && /read-only file system|EROFS|is a directory|EISDIR|resource busy|EBUSY|permission denied|EACCES|operation not permitted|EPERM|not a directory|ENOTDIR/i.test(line)) {
      add({ kind: "denied-write", path, detail, evidence: "stderr" });
    } else if (/read-only file system|EROFS/i.test(line)) {
      add({ kind: "denied-write", ...(path ? { path } : {}), detail, evidence: "stderr" });
    } else if (/bad system call|operation not permitted|permission denied|EPERM\b/i.test(line) && /\b(mount|umount|pivot_root|unshare|setns|ptrace|keyctl|add_key|io_uring\w*|bpf|perf_event_open|userfaultfd|process_vm_\w+|clone|namespace|nsenter|chroot|socket|raw)\b/i.test(recent)) {
      add({ kind: "blocked-syscall", detail, evidence: "stderr" });
    } else if (/address family not supported|EAFNOSUPPORT/i.test(line)) {
      add({ kind: "blocked-syscall", detail, evidence: "stderr" });
    } else if (/network is unreachable|ENETUNREACH|temporary failure in name resolution|EAI_AGAIN|could not resolve host|name or service not known|ENOTFOUND|connection refused|ECONNREFUSED/i.test(line)) {
      add({ kind: "blocked-connection", detail, evidence: "stderr" });
    } else if (path && target && /no such file or directory|ENOENT|permission denied|EACCES/i.test(line)) {
      if ([path, target].some((p) => context.denied.some((d) => within(p, d)) || context.hidden.some((h) => within(p, h)))) {
        add({ kind: "denied-read", path, detail: target !== path ? `${detail} (\`${path}\` leads to \`${target}\`)` : detail, evidence: "stderr" });
      }
    } else if (/file too large|EFBIG/i.test(line)) {
      add({ kind: "limit", limit: "file-size", detail, evidence: "stderr" });
    }
  }
  return out;
}

/** One line for stderr: `{"gatehouse":"violation",...}`, so a wrapper can parse it. */
export function formatViolation(runId: string, command: readonly string[], violation: Violation): string {
  return JSON.stringify({ gatehouse: "violation", run: runId, command, ...violation });
}

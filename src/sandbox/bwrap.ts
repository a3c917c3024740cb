import type { MountOp } from "./filesystem.js";

/** File descriptors the runner hands to bwrap (0-2 are stdio). */
export const SECCOMP_FD = 3;
export const STATUS_FD = 4;
export const BLOCK_FD = 5;

/** What {@link buildBwrapArgs} turns into a bwrap command line. */
export interface BwrapInput {
  readonly mounts: readonly MountOp[];
  readonly cwd: string;
  /** Share nothing but a fresh loopback: always true today, kept explicit for the reader. */
  readonly network: "none" | "proxy";
  /** Wait for a byte on {@link BLOCK_FD} before running the command (the proxy forwarder starts first). */
  readonly block: boolean;
  /** The program and arguments run inside (prlimit, then the command). */
  readonly argv: readonly string[];
}

/**
 * Builds bwrap's arguments. Order matters: bwrap applies mounts in the order given, so a mask
 * listed after the bind it sits in wins.
 *
 * Namespaces: user (no capabilities, nested user namespaces disabled), PID (the command's tree
 * dies with bwrap's init), network (loopback only; a `proxy` profile gets a forwarder started
 * from outside into this namespace), IPC, UTS and cgroup. `--new-session` stops TIOCSTI input
 * injection into the caller's terminal; `--die-with-parent` kills the tree if Gatehouse dies.
 *
 * @example
 * buildBwrapArgs({ mounts, cwd: "/src/app", network: "none", block: false, argv: ["true"] })
 */
export function buildBwrapArgs(input: BwrapInput): string[] {
  const args = [
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
    "--hostname",
    "gatehouse-sandbox",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
  ];
  for (const m of input.mounts) {
    switch (m.op) {
      case "ro-bind":
        args.push("--ro-bind", m.src, m.dest);
        break;
      case "bind":
        args.push("--bind", m.src, m.dest);
        break;
      case "symlink":
        args.push("--symlink", m.target, m.dest);
        break;
      case "tmpfs":
        args.push("--size", String(m.sizeBytes), "--tmpfs", m.dest);
        break;
      case "dir":
        args.push("--dir", m.dest);
        break;
    }
  }
  args.push("--chdir", input.cwd, "--seccomp", String(SECCOMP_FD), "--json-status-fd", String(STATUS_FD));
  if (input.block) args.push("--block-fd", String(BLOCK_FD));
  args.push("--", ...input.argv);
  return args;
}

import { spawnSync } from "node:child_process";
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { arch, platform, tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { decoysWork } from "./decoys.js";
import { probeCgroups, rlimitNprocEnforced, type CgroupHost } from "./limits.js";
import { SECCOMP_ARCHES } from "./seccomp.js";

/**
 * Where a run's read-only control files live (masks, the seccomp filter, index copies): a memory
 * file system when there is one we may write — `$XDG_RUNTIME_DIR` (per user, mode 0700), else
 * `/dev/shm` — because metadata calls on a disk-backed /tmp can cost a millisecond each, and a run
 * makes a few dozen. The sandbox's own /tmp stays in the OS temp directory (it may be large).
 */
export function scratchRoot(env: Readonly<Record<string, string | undefined>>): string {
  for (const candidate of [env.XDG_RUNTIME_DIR, "/dev/shm"]) {
    if (!candidate || !isAbsolute(candidate)) continue;
    try {
      if (!statSync(candidate).isDirectory()) continue;
      accessSync(candidate, constants.W_OK | constants.X_OK);
      return candidate;
    } catch {
      // not usable: try the next
    }
  }
  return tmpdir();
}

/** What this host can give a sandboxed run. */
export interface HostCapabilities {
  readonly platform: string;
  readonly arch: string;
  /**
   * The bwrap found in a system directory, its version, and which of the options Gatehouse uses
   * ({@link BWRAP_OPTIONS_USED}) it does not list in `--help` (a run is refused while any is missing).
   */
  readonly bwrap?: { readonly path: string; readonly version: string; readonly missingOptions?: readonly string[] };
  /** bwrap could create a user namespace (with a new network and PID namespace) here. */
  readonly userNamespaces: boolean;
  /** The kernel has seccomp and we have a filter for this architecture. */
  readonly seccomp: boolean;
  readonly prlimit?: string;
  readonly nsenter?: string;
  readonly cgroups: CgroupHost;
  readonly runningAsRoot: boolean;
  /** RLIMIT_NPROC is enforced for this user (never for root). */
  readonly nprocRlimit: boolean;
  /** Things missing, as sentences with what to do. */
  readonly problems: readonly string[];
  /** Isolation gaps that do not stop runs but weaken them. */
  readonly warnings: readonly string[];
}

/**
 * Every bwrap option the runner passes (src/sandbox/bwrap.ts). bubblewrap 0.8.0 is the first
 * release with all of them (`--disable-userns` and `--size` arrived there); older ones are refused
 * rather than run with a weaker sandbox.
 */
export const BWRAP_OPTIONS_USED = [
  "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
  "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "--hostname", "--proc", "--dev",
  "--ro-bind", "--bind", "--symlink", "--size", "--tmpfs", "--dir", "--chdir", "--seccomp", "--json-status-fd", "--block-fd",
] as const;

/** The oldest bubblewrap release that has every option in {@link BWRAP_OPTIONS_USED}. */
export const BWRAP_MIN_VERSION = "0.8.0";

/** Options from `bwrap --help` output that Gatehouse uses and this bwrap does not list. */
export function missingBwrapOptions(helpText: string): string[] {
  const listed = new Set([...helpText.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]!));
  return BWRAP_OPTIONS_USED.filter((o) => !listed.has(o));
}

function which(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/**
 * Probes the host: looks for bwrap, prlimit and nsenter in system directories, tries a real
 * bwrap sandbox, reads the kernel's seccomp support and the cgroup hierarchies. Synchronous,
 * a few milliseconds; done once per sandbox instance.
 *
 * @example
 * const host = probeHost();
 * if (host.problems.length > 0) console.error(host.problems.join("\n"));
 */
export function probeHost(options: { readonly spawnChecks?: boolean } = {}): HostCapabilities {
  // Without spawn checks (the CLI's per-run path) user namespaces are assumed; if they are in
  // fact unavailable, bwrap fails at set-up and the run is refused as `setup-failed`.
  const spawnChecks = options.spawnChecks ?? true;
  // System directories only: a bwrap planted in a writable PATH entry must not be trusted.
  const systemPath = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
  const problems: string[] = [];
  const warnings: string[] = [];
  const bwrapPath = which("bwrap", systemPath);
  let bwrap: HostCapabilities["bwrap"];
  let userNamespaces = false;
  if (platform() !== "linux") problems.push(`the sandbox needs Linux (this is ${platform()})`);
  if (bwrapPath) {
    // Listing the options is one short spawn (~1 ms), done even without spawn checks: a run must
    // never pass bwrap an option it does not have.
    const help = spawnSync(bwrapPath, ["--help"], { encoding: "utf8", timeout: 10_000, env: {} });
    const missingOptions = help.status === 0 ? missingBwrapOptions(help.stdout) : [...BWRAP_OPTIONS_USED];
    const version = spawnChecks ? (spawnSync(bwrapPath, ["--version"], { encoding: "utf8", env: {} }).stdout ?? "").trim().replace(/^bubblewrap\s*/, "") : "not probed";
    bwrap = { path: bwrapPath, version, missingOptions };
    if (help.status !== 0) problems.push(`\`${bwrapPath} --help\` failed (${help.error?.message ?? `exit ${String(help.status)}`}), so its options cannot be checked; reinstall bubblewrap`);
    else if (missingOptions.length > 0) {
      problems.push(`bubblewrap ${version === "not probed" ? "" : `${version} `}at ${bwrapPath} lacks ${missingOptions.map((o) => `\`${o}\``).join(", ")}, which the sandbox needs; install bubblewrap ${BWRAP_MIN_VERSION} or newer`);
    }
  }
  if (bwrapPath && !spawnChecks) {
    userNamespaces = true;
  } else if (bwrapPath) {
    const probe = spawnSync(bwrapPath, ["--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent", "--ro-bind", "/", "/", "--", "/bin/true"], { encoding: "utf8", timeout: 10_000, env: {} });
    userNamespaces = probe.status === 0;
    if (!userNamespaces) problems.push(`bwrap cannot create user namespaces here (${probe.stderr.trim() || `exit ${String(probe.status)}`}); enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or the AppArmor userns rule for bwrap)`);
  } else {
    problems.push("bubblewrap is not installed; install it (Debian/Ubuntu: apt-get install bubblewrap)");
  }
  let seccompKernel: boolean;
  try {
    seccompKernel = /^Seccomp:/m.test(readFileSync("/proc/self/status", "utf8"));
  } catch {
    seccompKernel = false;
  }
  const seccomp = seccompKernel && arch() in SECCOMP_ARCHES;
  if (!seccompKernel) problems.push("the kernel has no seccomp support");
  else if (!seccomp) problems.push(`no seccomp filter for architecture ${arch()} (x64 and arm64 only)`);
  const prlimit = which("prlimit", systemPath);
  if (!prlimit) problems.push("util-linux `prlimit` is missing; install util-linux");
  const nsenter = which("nsenter", systemPath);
  if (!nsenter) warnings.push("util-linux `nsenter` is missing: profiles with `network: proxy` cannot run");
  const cgroups = probeCgroups();
  const runningAsRoot = typeof process.getuid === "function" && process.getuid() === 0;
  const nprocRlimit = rlimitNprocEnforced();
  if (!cgroups.writable.pids && !nprocRlimit) {
    problems.push("no writable pids cgroup and running as root (RLIMIT_NPROC does not apply to root): process limits cannot be enforced; run as a normal user or delegate a cgroup");
  }
  if (!cgroups.writable.memory) warnings.push("no writable memory cgroup: memory is limited per process (RLIMIT_AS), not for the run as a whole");
  if (!cgroups.writable.cpuacct) warnings.push("no writable cpuacct cgroup: CPU time is limited per process, and not reported");
  // Only the doctor asks (spawn checks on): the runner learns it itself, where its run directories live.
  if (spawnChecks && !decoysWork(tmpdir())) warnings.push(`access times do not move in ${tmpdir()} (noatime?): decoys cannot tell a silent read of a credential directory, so it goes unreported`);
  if (runningAsRoot) warnings.push("running as root: sandboxed processes are uid 0 outside the namespace, held by dropped capabilities, read-only mounts, NO_NEW_PRIVS and seccomp");
  return {
    platform: platform(),
    arch: arch(),
    ...(bwrap ? { bwrap } : {}),
    userNamespaces,
    seccomp,
    ...(prlimit ? { prlimit } : {}),
    ...(nsenter ? { nsenter } : {}),
    cgroups,
    runningAsRoot,
    nprocRlimit,
    problems,
    warnings,
  };
}

/** The doctor's report as lines for a person. */
export function formatDoctorReport(host: HostCapabilities): string[] {
  const yes = (ok: boolean): string => (ok ? "ok" : "MISSING");
  const lines = [
    `platform        ${host.platform}/${host.arch}`,
    `bubblewrap      ${!host.bwrap ? "MISSING" : host.bwrap.missingOptions?.length ? `TOO OLD (${host.bwrap.path}, ${host.bwrap.version}; lacks ${host.bwrap.missingOptions.join(" ")}; need >= ${BWRAP_MIN_VERSION})` : `ok (${host.bwrap.path}, ${host.bwrap.version}; every option used is present)`}`,
    `user namespaces ${yes(host.userNamespaces)}`,
    `seccomp         ${yes(host.seccomp)}`,
    `prlimit         ${host.prlimit ?? "MISSING"}`,
    `nsenter         ${host.nsenter ?? "missing (network: proxy unavailable)"}`,
    `cgroups         ${host.cgroups.version}; controllers: ${host.cgroups.controllers.join(", ") || "none"}`,
    `  writable      ${Object.keys(host.cgroups.writable).join(", ") || "none (rlimits only)"}`,
    `running as      ${host.runningAsRoot ? "root" : "a normal user"}`,
  ];
  for (const w of host.warnings) lines.push(`warning: ${w}`);
  for (const p of host.problems) lines.push(`problem: ${p}`);
  lines.push(host.problems.length === 0 ? "sandbox: available" : "sandbox: UNAVAILABLE (gatehouse run refuses; only `isolation: none` profiles run)");
  return lines;
}

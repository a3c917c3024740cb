import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { rmdir } from "node:fs/promises";
import { join } from "node:path";
import type { ResolvedLimits } from "./profile.js";

/**
 * Resource limits of a run. cgroups bound the whole tree where the host lets us create them
 * (memory, number of processes, total CPU); rlimits bound each process (CPU seconds, open files,
 * file size, no core dumps, and address space / process count when no cgroup does it). They are
 * set by the shell that joins the run's cgroups (`ulimit`, inherited by bwrap and everything
 * inside), or by util-linux `prlimit` as the first program inside the sandbox where there is no
 * such shell or the process count falls back to RLIMIT_NPROC.
 *
 * Only cgroup v1 hierarchies are driven today; on a v2-only host the rlimit fallbacks apply and
 * `gatehouse doctor` says so.
 */

/** cgroup v1 controllers the runner can use, each mapped to the directory our process sits in. */
export interface CgroupHost {
  readonly version: "v1" | "v2" | "hybrid" | "none";
  /** Controllers listed by the kernel for this process (v1 hierarchies and the v2 list). */
  readonly controllers: readonly string[];
  /** Writable v1 directories (our own cgroup in that hierarchy) by controller. */
  readonly writable: Readonly<Partial<Record<"memory" | "pids" | "cpuacct", string>>>;
}

interface MountInfo {
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

function readMountInfo(): MountInfo[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  } catch {
    return [];
  }
  return text.split("\n").filter(Boolean).map((line) => {
    const [left = "", right = ""] = line.split(" - ");
    const fields = left.split(" ");
    const [fsType = "", , options = ""] = right.split(" ");
    return { mountPoint: (fields[4] ?? "").replace(/\\040/g, " "), fsType, superOptions: options.split(",") };
  });
}

/**
 * Finds the cgroup hierarchies of this process and which v1 controllers we may create child
 * groups under (by creating and removing a probe directory).
 */
export function probeCgroups(): CgroupHost {
  const mounts = readMountInfo();
  let selfLines: string[];
  try {
    selfLines = readFileSync("/proc/self/cgroup", "utf8").split("\n").filter(Boolean);
  } catch {
    return { version: "none", controllers: [], writable: {} };
  }
  const hasV1 = mounts.some((m) => m.fsType === "cgroup");
  const v2 = mounts.find((m) => m.fsType === "cgroup2");
  const version = hasV1 && v2 ? "hybrid" : hasV1 ? "v1" : v2 ? "v2" : "none";
  const controllers = new Set<string>();
  const writable: Partial<Record<"memory" | "pids" | "cpuacct", string>> = {};
  for (const line of selfLines) {
    const [, names = "", path = "/"] = line.split(":");
    if (names === "") {
      if (v2) {
        try {
          readFileSync(join(v2.mountPoint, path, "cgroup.controllers"), "utf8").split(/\s+/).filter(Boolean).forEach((c) => controllers.add(c));
        } catch {
          // no controllers file: nothing to add
        }
      }
      continue;
    }
    for (const name of names.split(",")) {
      controllers.add(name);
      if (name !== "memory" && name !== "pids" && name !== "cpuacct") continue;
      const mount = mounts.find((m) => m.fsType === "cgroup" && m.superOptions.includes(name));
      if (!mount) continue;
      const dir = join(mount.mountPoint, path);
      const probe = join(dir, `gatehouse-probe-${process.pid}`);
      try {
        mkdirSync(probe);
        rmdirSync(probe);
        writable[name] = dir;
      } catch {
        // not ours to write: the rlimit fallback applies
      }
    }
  }
  return { version, controllers: [...controllers].sort(), writable };
}

/** Per-run cgroups: where to attach the sandbox, what it used, whether a limit was hit. */
export interface RunCgroups {
  /** `cgroup.procs` files the first process writes its pid into before exec. */
  readonly procsFiles: readonly string[];
  readonly hasMemory: boolean;
  readonly hasPids: boolean;
  readonly hasCpu: boolean;
  /** CPU time used so far in milliseconds, when a cpuacct group exists. */
  cpuMs(): number | undefined;
  /** Peak memory and whether the OOM killer fired / forks were refused. */
  report(): { peakMemoryBytes?: number; oomKilled: boolean; pidsLimitHit: boolean };
  /** SIGKILLs every process still in the groups. */
  killAll(): void;
  /** Removes the groups (after the processes are gone); true once none is left. */
  remove(): Promise<boolean>;
}

function readNumber(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, "utf8").trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

function readKeyed(path: string, key: string): number {
  try {
    const line = readFileSync(path, "utf8").split("\n").find((l) => l.startsWith(`${key} `));
    return line ? Number(line.split(" ")[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Creates one group per writable v1 controller for a run and writes its limits. Returns
 * undefined when the host lets us create none.
 */
export function createRunCgroups(host: CgroupHost, runId: string, limits: ResolvedLimits): RunCgroups | undefined {
  const dirs: Partial<Record<"memory" | "pids" | "cpuacct", string>> = {};
  const created: string[] = [];
  const cleanup = (): boolean => {
    let left = 0;
    for (const dir of [...created].reverse()) {
      try {
        rmdirSync(dir);
      } catch (error) {
        // EBUSY while the last processes are reaped; the caller retries after killAll
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") left++;
      }
    }
    return left === 0;
  };
  try {
    for (const name of ["memory", "pids", "cpuacct"] as const) {
      const base = host.writable[name];
      if (!base) continue;
      const dir = join(base, `gatehouse-${runId}`);
      mkdirSync(dir);
      created.push(dir);
      dirs[name] = dir;
    }
    if (dirs.memory) {
      const bytes = String(limits.memoryMb * 1024 * 1024);
      writeFileSync(join(dirs.memory, "memory.limit_in_bytes"), bytes);
      const memsw = join(dirs.memory, "memory.memsw.limit_in_bytes");
      if (existsSync(memsw)) writeFileSync(memsw, bytes);
    }
    if (dirs.pids) writeFileSync(join(dirs.pids, "pids.max"), String(limits.processes));
  } catch (error) {
    cleanup();
    throw error;
  }
  if (created.length === 0) return undefined;
  const procsFiles = created.map((d) => join(d, "cgroup.procs"));
  const pidsIn = (): number[] =>
    procsFiles.flatMap((f) => {
      try {
        return readFileSync(f, "utf8").split("\n").filter(Boolean).map(Number);
      } catch {
        return [];
      }
    });
  return {
    procsFiles,
    hasMemory: dirs.memory !== undefined,
    hasPids: dirs.pids !== undefined,
    hasCpu: dirs.cpuacct !== undefined,
    cpuMs: () => {
      const ns = dirs.cpuacct ? readNumber(join(dirs.cpuacct, "cpuacct.usage")) : undefined;
      return ns === undefined ? undefined : Math.round(ns / 1e6);
    },
    report: () => {
      const peak = dirs.memory ? readNumber(join(dirs.memory, "memory.max_usage_in_bytes")) : undefined;
      return {
        ...(peak !== undefined ? { peakMemoryBytes: peak } : {}),
        oomKilled: dirs.memory ? readKeyed(join(dirs.memory, "memory.oom_control"), "oom_kill") > 0 : false,
        pidsLimitHit: dirs.pids ? readKeyed(join(dirs.pids, "pids.events"), "max") > 0 : false,
      };
    },
    killAll: () => {
      for (const pid of new Set(pidsIn())) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    },
    // Removing a cgroup waits on the kernel (tens of ms for memory groups): off the event loop.
    remove: async () => {
      let left = 0;
      for (const dir of [...created].reverse()) {
        try {
          await rmdir(dir);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "ENOENT") left++;
        }
      }
      return left === 0;
    },
  };
}

/** True when the kernel enforces RLIMIT_NPROC for us (it never does for uid 0). */
export function rlimitNprocEnforced(): boolean {
  return typeof process.getuid === "function" && process.getuid() !== 0;
}

/**
 * Arguments for util-linux `prlimit` (run inside the sandbox, before the command). Soft and hard
 * CPU limits differ by a few seconds so the process sees SIGXCPU before SIGKILL.
 */
export function prlimitArgs(limits: ResolvedLimits, fallbacks: { readonly addressSpace: boolean; readonly processes: boolean }): string[] {
  const mb = 1024 * 1024;
  const args = [
    `--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 2}`,
    `--nofile=${limits.openFiles}:${limits.openFiles}`,
    `--fsize=${limits.fileSizeMb * mb}:${limits.fileSizeMb * mb}`,
    "--core=0:0",
  ];
  if (fallbacks.addressSpace) args.push(`--as=${limits.memoryMb * mb}:${limits.memoryMb * mb}`);
  if (fallbacks.processes) args.push(`--nproc=${limits.processes}:${limits.processes}`);
  return args;
}

/**
 * The same rlimits as {@link prlimitArgs}, as dash/POSIX `ulimit` built-ins for the shell that
 * joins the run's cgroups before it execs bwrap: the limits are inherited by bwrap and everything
 * inside, and the run saves the exec of `prlimit`. Undefined when the process count needs the
 * rlimit fallback: RLIMIT_NPROC counts the user's processes in the namespace where it is set, so it
 * stays with `prlimit` inside the sandbox. `ulimit -f` counts 512-byte blocks, `-v` KiB.
 */
export function ulimitScript(
  limits: ResolvedLimits,
  fallbacks: { readonly addressSpace: boolean; readonly processes: boolean },
  inherited: InheritedHardLimits = readInheritedHardLimits(),
): string | undefined {
  if (fallbacks.processes) return undefined;
  const mb = 1024 * 1024;
  // Outside the sandbox a shell with CAP_SYS_RESOURCE (root) could raise a hard limit past what
  // the operator gave Gatehouse; prlimit inside (no capabilities) refuses that, so it decides.
  const asked: [keyof InheritedHardLimits, number][] = [
    ["cpu", limits.cpuSeconds + 2],
    ["nofile", limits.openFiles],
    ["fsize", limits.fileSizeMb * mb],
    ...(fallbacks.addressSpace ? [["as", limits.memoryMb * mb] as [keyof InheritedHardLimits, number]] : []),
  ];
  if (asked.some(([name, value]) => value > (inherited[name] ?? -1))) return undefined;
  const steps = [
    // Soft before hard: each call must leave soft <= hard.
    `ulimit -S -t ${limits.cpuSeconds}`,
    `ulimit -H -t ${limits.cpuSeconds + 2}`,
    `ulimit -n ${limits.openFiles}`,
    `ulimit -f ${(limits.fileSizeMb * mb) / 512}`,
    "ulimit -c 0",
  ];
  if (fallbacks.addressSpace) steps.push(`ulimit -v ${limits.memoryMb * 1024}`);
  return steps.map((s) => `${s} || exit 125`).join("; ");
}

/** The hard rlimits this process runs under (Infinity for unlimited); a limit it cannot read is absent. */
export interface InheritedHardLimits {
  readonly cpu?: number;
  readonly nofile?: number;
  readonly fsize?: number;
  readonly as?: number;
}

const LIMIT_ROWS: Readonly<Record<string, keyof InheritedHardLimits>> = {
  "Max cpu time": "cpu",
  "Max open files": "nofile",
  "Max file size": "fsize",
  "Max address space": "as",
};

/** Reads {@link InheritedHardLimits} from /proc/self/limits (empty where it cannot be read). */
export function readInheritedHardLimits(text?: string): InheritedHardLimits {
  let body = text;
  if (body === undefined) {
    try {
      body = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return {};
    }
  }
  const out: Record<string, number> = {};
  for (const line of body.split("\n")) {
    const name = Object.keys(LIMIT_ROWS).find((n) => line.startsWith(n));
    if (!name) continue;
    const hard = line.slice(name.length).trim().split(/\s+/)[1];
    if (hard === "unlimited") out[LIMIT_ROWS[name]!] = Number.POSITIVE_INFINITY;
    else if (hard !== undefined && /^\d+$/.test(hard)) out[LIMIT_ROWS[name]!] = Number(hard);
  }
  return out;
}

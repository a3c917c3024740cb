import { describe, expect, it } from "vitest";
import { readInheritedHardLimits, ulimitScript } from "./limits.js";
import { DEFAULT_LIMITS } from "./profile.js";

const PROC = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max file size             unlimited            unlimited            bytes
Max open files            1024                 2048                 files
Max address space         unlimited            unlimited            bytes
`;

describe("rlimits set by the cgroup shell", () => {
  const limits = { ...DEFAULT_LIMITS, cpuSeconds: 7, openFiles: 321, fileSizeMb: 3, memoryMb: 64 };

  it("reads the inherited hard limits", () => {
    expect(readInheritedHardLimits(PROC)).toEqual({ cpu: Infinity, fsize: Infinity, nofile: 2048, as: Infinity });
  });

  it("sets soft before hard CPU, open files, file size in 512-byte blocks, no core, and address space in KiB when asked", () => {
    const script = ulimitScript(limits, { addressSpace: true, processes: false }, readInheritedHardLimits(PROC));
    expect(script).toBe(
      ["ulimit -S -t 7", "ulimit -H -t 9", "ulimit -n 321", `ulimit -f ${(3 * 1024 * 1024) / 512}`, "ulimit -c 0", `ulimit -v ${64 * 1024}`].map((s) => `${s} || exit 125`).join("; "),
    );
  });

  it("leaves the limits to prlimit inside when a value exceeds what Gatehouse inherited (a root shell could raise it) or the process count needs RLIMIT_NPROC", () => {
    expect(ulimitScript({ ...limits, openFiles: 4096 }, { addressSpace: false, processes: false }, readInheritedHardLimits(PROC))).toBeUndefined();
    expect(ulimitScript(limits, { addressSpace: false, processes: true }, readInheritedHardLimits(PROC))).toBeUndefined();
    expect(ulimitScript(limits, { addressSpace: false, processes: false }, {})).toBeUndefined();
  });
});

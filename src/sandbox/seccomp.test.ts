import { describe, expect, it } from "vitest";
import { buildSeccompFilter, DENIED_SYSCALLS, SECCOMP_ARCHES } from "./seccomp.js";

/** Runs the classic-BPF program the way the kernel does, over a fake struct seccomp_data. */
function evaluate(program: Buffer, data: { arch: number; nr: number; args?: number[] }): number {
  const mem = Buffer.alloc(64);
  mem.writeUInt32LE(data.nr >>> 0, 0);
  mem.writeUInt32LE(data.arch >>> 0, 4);
  (data.args ?? []).forEach((a, i) => mem.writeUInt32LE(a >>> 0, 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc < program.length / 8; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20:
        acc = mem.readUInt32LE(k);
        pc++;
        break;
      case 0x15:
        pc += 1 + (acc === k ? jt : jf);
        break;
      case 0x35:
        pc += 1 + (acc >= k ? jt : jf);
        break;
      case 0x45:
        pc += 1 + ((acc & k) !== 0 ? jt : jf);
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unexpected opcode ${code}`);
    }
  }
  throw new Error("fell off the end of the program");
}

const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const ENOSYS = 0x00050026;
const EAFNOSUPPORT = 0x00050061;
const KILL = 0x80000000;
const x64 = SECCOMP_ARCHES.x64;
const arm64 = SECCOMP_ARCHES.arm64;
const filter = buildSeccompFilter("x64");

describe("seccomp filter", () => {
  it.each([
    ["x86_64 mount", x64, 165, [], EPERM],
    ["x86_64 read", x64, 0, [], ALLOW],
    ["x86_64 clone of a thread", x64, 56, [0x3d0f00], ALLOW],
    ["x86_64 clone with CLONE_NEWUSER", x64, 56, [0x10000011], EPERM],
    ["x86_64 clone3 (flags unreadable)", x64, 435, [], ENOSYS],
    ["x86_64 io_uring_setup", x64, 425, [], EPERM],
    ["x86_64 socket(AF_UNIX)", x64, 41, [1], ALLOW],
    ["x86_64 socket(AF_INET6)", x64, 41, [10], ALLOW],
    ["x86_64 socket(AF_PACKET)", x64, 41, [17], EAFNOSUPPORT],
    ["x86_64 socket(AF_VSOCK)", x64, 41, [40], EAFNOSUPPORT],
    ["x32 ABI call", x64, 0x40000000 + 1, [], KILL],
    ["aarch64 mount", arm64, 40, [], EPERM],
    ["aarch64 unshare", arm64, 97, [], EPERM],
    ["aarch64 read", arm64, 63, [], ALLOW],
    ["aarch64 clone with CLONE_NEWUSER", arm64, 220, [0x10000000], EPERM],
    ["i386 anything (unknown arch)", 0x40000003, 1, [], KILL],
    ["riscv64 anything (unknown arch)", 0xc00000f3, 63, [], KILL],
  ])("%s → %s", (_name, arch, nr, args, expected) => {
    expect(evaluate(filter, { arch, nr, args })).toBe(expected);
  });

  it("denies every listed system call on both architectures", () => {
    expect(DENIED_SYSCALLS.length).toBeGreaterThan(30);
    for (const arch of [x64, arm64]) {
      const allowed = [...Array(450).keys()].filter((nr) => evaluate(filter, { arch, nr, args: [1] }) === ALLOW);
      expect(450 - allowed.length).toBeGreaterThanOrEqual(DENIED_SYSCALLS.length);
    }
  });

  it("refuses to build for an architecture it does not know", () => {
    expect(() => buildSeccompFilter("riscv64")).toThrow(expect.objectContaining({ code: "arch-unsupported" }));
  });
});

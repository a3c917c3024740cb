import { SandboxError } from "./errors.js";

/**
 * A classic-BPF seccomp filter generated here, in TypeScript, and handed to bubblewrap with
 * `--seccomp FD` (bwrap loads it after setting PR_SET_NO_NEW_PRIVS, just before exec).
 *
 * What it denies and why (every denial returns an errno so well-behaved programs fall back):
 * - the new mount API, mount, umount2, pivot_root: remounting the read-only host view writable;
 * - unshare, setns, clone/clone3 with CLONE_NEWUSER: a nested user namespace hands back every
 *   capability and has been the door to most unprivileged kernel exploits;
 * - ptrace, process_vm_readv/writev: reading or steering another process's memory;
 * - keyctl, add_key, request_key: the kernel keyring is shared per user outside namespaces;
 * - io_uring_*: a second system-call interface that seccomp cannot see into;
 * - bpf, perf_event_open, userfaultfd: kernel attack surface used by exploits, not by builds;
 * - kexec_*, init/finit/delete_module, open_by_handle_at, name_to_handle_at, swapon/off, reboot,
 *   acct, quotactl, syslog: host administration (open_by_handle_at is the "shocker" escape);
 * - socket() families other than AF_UNIX, AF_INET, AF_INET6, AF_NETLINK (raw packet, vsock, …).
 *
 * AF_UNIX stays allowed on purpose: socketpair and local sockets are everyday plumbing (npm, git,
 * Python multiprocessing). Host Unix sockets are out of reach anyway: path sockets live in host
 * directories that are never bound in (/run, /tmp, the home directory), and abstract sockets are
 * scoped to the network namespace, which is always new.
 *
 * Any architecture other than x86_64 and aarch64 is killed at the first system call (fail
 * closed), as are x32 system calls on x86_64.
 */

/** The architectures the filter knows (AUDIT_ARCH_* in <linux/audit.h>). */
export const SECCOMP_ARCHES = {
  x64: 0xc000003e,
  arm64: 0xc00000b7,
} as const;

/** Node's name for an architecture the filter supports. */
export type SeccompArch = keyof typeof SECCOMP_ARCHES;

const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;
const CLONE_NEWUSER = 0x10000000;
const X32_SYSCALL_BIT = 0x40000000;

const RET_KILL_PROCESS = 0x80000000;
const RET_ALLOW = 0x7fff0000;
const retErrno = (errno: number): number => 0x00050000 | errno;

// BPF opcodes (<linux/bpf_common.h>).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;

// Offsets in struct seccomp_data: nr (u32), arch (u32), instruction_pointer (u64), args[6] (u64).
const OFF_NR = 0;
const OFF_ARCH = 4;
const offArgLow = (i: number): number => 16 + 8 * i; // both arches are little-endian

/** System call numbers per architecture (x86_64: arch/x86/entry/syscalls; arm64: asm-generic). */
const SYSCALLS: Readonly<Record<SeccompArch, Readonly<Record<string, number>>>> = {
  x64: {
    mount: 165, umount2: 166, pivot_root: 155, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431,
    fsmount: 432, fspick: 433, mount_setattr: 442, unshare: 272, setns: 308, ptrace: 101,
    process_vm_readv: 310, process_vm_writev: 311, keyctl: 250, add_key: 248, request_key: 249,
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, bpf: 321, perf_event_open: 298,
    userfaultfd: 323, kexec_load: 246, kexec_file_load: 320, init_module: 175, finit_module: 313,
    delete_module: 176, open_by_handle_at: 304, name_to_handle_at: 303, swapon: 167, swapoff: 168,
    reboot: 169, acct: 163, quotactl: 179, syslog: 103, clone: 56, clone3: 435, socket: 41,
  },
  arm64: {
    mount: 40, umount2: 39, pivot_root: 41, open_tree: 428, move_mount: 429, fsopen: 430, fsconfig: 431,
    fsmount: 432, fspick: 433, mount_setattr: 442, unshare: 97, setns: 268, ptrace: 117,
    process_vm_readv: 270, process_vm_writev: 271, keyctl: 219, add_key: 217, request_key: 218,
    io_uring_setup: 425, io_uring_enter: 426, io_uring_register: 427, bpf: 280, perf_event_open: 241,
    userfaultfd: 282, kexec_load: 104, kexec_file_load: 294, init_module: 105, finit_module: 273,
    delete_module: 106, open_by_handle_at: 265, name_to_handle_at: 264, swapon: 224, swapoff: 225,
    reboot: 142, acct: 89, quotactl: 60, syslog: 116, clone: 220, clone3: 435, socket: 198,
  },
};

/** System calls denied outright with EPERM. */
export const DENIED_SYSCALLS = [
  "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
  "mount_setattr", "unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "keyctl", "add_key",
  "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open",
  "userfaultfd", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
  "open_by_handle_at", "name_to_handle_at", "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog",
] as const;

/** Socket families a sandboxed program may open (AF_UNIX, AF_INET, AF_INET6, AF_NETLINK). */
export const ALLOWED_SOCKET_FAMILIES = [1, 2, 10, 16] as const;

interface Insn {
  code: number;
  k: number;
  jt?: string;
  jf?: string;
  label?: string;
}

/**
 * Builds the filter program for the architectures it supports, as the bytes of a
 * `struct sock_filter[]` in the host's byte order.
 *
 * @example
 * const program = buildSeccompFilter("x64"); // throws for an unsupported host arch
 */
export function buildSeccompFilter(hostArch: string): Buffer {
  if (!(hostArch in SECCOMP_ARCHES)) {
    throw new SandboxError("arch-unsupported", `no seccomp filter for architecture \`${hostArch}\``, "the sandbox runs on x86_64 and aarch64 only");
  }
  const prog: Insn[] = [];
  prog.push({ code: LD_W_ABS, k: OFF_ARCH });
  prog.push({ code: JEQ_K, k: SECCOMP_ARCHES.x64, jt: "x64", jf: "next" });
  prog.push({ code: JEQ_K, k: SECCOMP_ARCHES.arm64, jt: "arm64", jf: "kill" });
  for (const arch of ["x64", "arm64"] as const) {
    const nr = SYSCALLS[arch];
    prog.push({ code: LD_W_ABS, k: OFF_NR, label: arch });
    if (arch === "x64") prog.push({ code: JGE_K, k: X32_SYSCALL_BIT, jt: "kill", jf: "next" });
    for (const name of DENIED_SYSCALLS) prog.push({ code: JEQ_K, k: need(nr, name), jt: "eperm", jf: "next" });
    // clone3 passes its flags in memory that BPF cannot read: ENOSYS makes libc fall back to clone.
    prog.push({ code: JEQ_K, k: need(nr, "clone3"), jt: "enosys", jf: "next" });
    prog.push({ code: JEQ_K, k: need(nr, "clone"), jt: `${arch}-clone`, jf: "next" });
    prog.push({ code: JEQ_K, k: need(nr, "socket"), jt: `${arch}-socket`, jf: "allow-" + arch });
    prog.push({ code: LD_W_ABS, k: offArgLow(0), label: `${arch}-clone` });
    prog.push({ code: JSET_K, k: CLONE_NEWUSER, jt: "eperm", jf: "allow-" + arch });
    prog.push({ code: LD_W_ABS, k: offArgLow(0), label: `${arch}-socket` });
    ALLOWED_SOCKET_FAMILIES.forEach((family) => prog.push({ code: JEQ_K, k: family, jt: "allow-" + arch, jf: "next" }));
    prog.push({ code: RET_K, k: retErrno(EAFNOSUPPORT) });
    prog.push({ code: RET_K, k: RET_ALLOW, label: "allow-" + arch });
  }
  prog.push({ code: RET_K, k: retErrno(EPERM), label: "eperm" });
  prog.push({ code: RET_K, k: retErrno(ENOSYS), label: "enosys" });
  prog.push({ code: RET_K, k: RET_KILL_PROCESS, label: "kill" });
  return assemble(prog);
}

function need(table: Readonly<Record<string, number>>, name: string): number {
  const nr = table[name];
  if (nr === undefined) throw new SandboxError("arch-unsupported", `no system call number for \`${name}\``);
  return nr;
}

function assemble(prog: readonly Insn[]): Buffer {
  const labels = new Map<string, number>();
  prog.forEach((insn, i) => {
    if (insn.label) labels.set(insn.label, i);
  });
  const offset = (from: number, target: string | undefined): number => {
    if (target === undefined || target === "next") return 0;
    const to = labels.get(target);
    if (to === undefined) throw new Error(`seccomp: unknown label ${target}`);
    const delta = to - from - 1;
    // INVARIANT: BPF conditional jumps are forward-only and fit in a u8.
    if (delta < 0 || delta > 255) throw new Error(`seccomp: jump to ${target} out of range (${delta})`);
    return delta;
  };
  const out = Buffer.alloc(prog.length * 8);
  prog.forEach((insn, i) => {
    out.writeUInt16LE(insn.code, i * 8);
    out.writeUInt8(offset(i, insn.jt), i * 8 + 2);
    out.writeUInt8(offset(i, insn.jf), i * 8 + 3);
    out.writeUInt32LE(insn.k >>> 0, i * 8 + 4);
  });
  return out;
}

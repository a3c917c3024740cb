import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSandbox, type Sandbox } from "../src/sandbox/index.js";
import { makeFixture, runIn, type Fixture } from "./sandbox-helpers.js";

/**
 * Escapes found by the third security review of the sandbox runner, each reproduced with real
 * bubblewrap runs and real git on the host: an index rewritten to check out into `.git/`, a
 * nested repository reached through a branch that is not checked out, a bare repository planted
 * in an ordinary directory. A run whose plant was quarantined exits non-zero.
 */
let fx: Fixture;
let sandbox: Sandbox;

beforeAll(() => {
  fx = makeFixture();
  sandbox = createSandbox({ auditSink: { append: (e) => Promise.resolve(void fx.events.push(e)) }, hostEnv: fx.hostEnv, dataDir: fx.dataDir });
});

afterAll(async () => {
  await sandbox?.drain();
  await fx?.cleanup();
});

const sh = (script: string): string[] => ["sh", "-c", script];
const ID = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"];

function git(dir: string, ...args: string[]): string {
  return execFileSync("git", [...ID, "-c", "init.defaultBranch=main", ...args], { cwd: dir, encoding: "utf8", stdio: ["pipe", "pipe", "ignore"] });
}

/** A fresh git workspace with one commit (and an empty `src/`), under the fixture. */
function repo(name: string): string {
  const dir = join(fx.root, name);
  mkdirSync(join(dir, "src"), { recursive: true });
  git(dir, "init", "-q");
  writeFileSync(join(dir, "a"), "a\n");
  writeFileSync(join(dir, "src", "keep"), "k\n");
  git(dir, "add", "a", "src/keep");
  git(dir, "commit", "-q", "-m", "a");
  return dir;
}

/** Runs the host's git as the user would after the run; returns whether `marker` was created. */
function hostGitRuns(dir: string, marker: string, args: string[]): boolean {
  spawnSync("git", [...ID, ...args], { cwd: dir, env: { ...process.env, HOME: fx.home }, stdio: "ignore", timeout: 20_000 });
  return existsSync(marker);
}

/** A version 2 index holding `entries` (name, blob id, mode), as git writes it (stat data zero). */
function indexBytes(entries: { name: string; sha: string; mode: number }[]): Buffer {
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.write("DIRC", 0, "latin1");
  header.writeUInt32BE(2, 4);
  header.writeUInt32BE(entries.length, 8);
  parts.push(header);
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const name = Buffer.from(e.name);
    const fixed = Buffer.alloc(62);
    fixed.writeUInt32BE(e.mode, 24);
    Buffer.from(e.sha, "hex").copy(fixed, 40);
    fixed.writeUInt16BE(Math.min(name.length, 0xfff), 60);
    const len = 62 + name.length;
    parts.push(fixed, name, Buffer.alloc(8 - (len % 8)));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHash("sha1").update(body).digest()]);
}

describe("what a run plants for host git (third review)", () => {
  it("an index rewritten to hold .git/hooks/pre-commit is quarantined and the pre-run index restored; git restore writes no hook", async () => {
    const dir = repo("index");
    const marker = join(fx.root, "pwned-index");
    const hook = execFileSync("git", ["hash-object", "-w", "--stdin"], { cwd: dir, input: `#!/bin/sh\necho x > ${marker}\n`, encoding: "utf8" }).trim();
    const before = readFileSync(join(dir, ".git", "index"));
    const entries = git(dir, "ls-files", "--stage", "-z").split("\0").filter(Boolean).map((r) => {
      const [meta, name] = r.split("\t") as [string, string];
      const [mode, sha] = meta.split(" ") as [string, string];
      return { name, sha, mode: parseInt(mode, 8) };
    });
    writeFileSync(join(dir, "evil-index"), indexBytes([...entries, { name: ".git/hooks/pre-commit", sha: hook, mode: 0o100755 }]));
    const { result, stdout } = await runIn(sandbox, sh("cp evil-index .git/index && git ls-files && echo planted"), { cwd: dir });
    expect(stdout).toContain(".git/hooks/pre-commit");
    expect(stdout).toContain("planted");
    expect(readFileSync(join(dir, ".git", "index"))).toEqual(before);
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-write", path: join(dir, ".git", "index"), evidence: "runner" }));
    expect(result.exitCode).not.toBe(0);
    expect(hostGitRuns(dir, marker, ["restore", "."])).toBe(false);
    expect(existsSync(join(dir, ".git", "hooks", "pre-commit"))).toBe(false);
    writeFileSync(join(dir, "a"), "b\n");
    expect(hostGitRuns(dir, marker, ["commit", "-qam", "b"])).toBe(false);
  });

  it("a new nested repository hidden by info/exclude and linked only from an unchecked-out branch loses its .git; checkout + status run nothing", async () => {
    const dir = repo("nested");
    const marker = join(fx.root, "pwned-nested");
    const plant = [
      "git init -q vx",
      "git -C vx -c user.name=t -c user.email=t@x commit -q --allow-empty -m x",
      `printf '[core]\\n\\tfsmonitor = "echo x > ${marker}; false"\\n' >> vx/.git/config`,
      "echo vx/ >> .git/info/exclude",
      'tree=$(printf "160000 commit %s\\tvx\\n100644 blob %s\\ta\\n040000 tree %s\\tsrc\\n" "$(git -C vx rev-parse HEAD)" "$(git rev-parse HEAD:a)" "$(git rev-parse HEAD:src)" | git mktree)',
      'git update-ref refs/heads/other "$(git -c user.name=t -c user.email=t@x commit-tree -p HEAD -m other "$tree")"',
      "echo planted",
    ].join(" && ");
    const { result, stdout } = await runIn(sandbox, sh(plant), { cwd: dir });
    expect(stdout).toContain("planted");
    expect(existsSync(join(dir, "vx", ".git"))).toBe(false);
    expect(result.violations.some((v) => v.path === join(dir, "vx", ".git"))).toBe(true);
    expect(result.violations.some((v) => v.path === join(dir, ".git", "info", "exclude"))).toBe(true);
    expect(result.exitCode).toBe(1);
    expect(hostGitRuns(dir, marker, ["checkout", "-q", "other"])).toBe(false);
    expect(hostGitRuns(dir, marker, ["status"])).toBe(false);
  });

  it("a bare repository planted in an existing directory (HEAD, objects, refs, config with core.fsmonitor) loses its HEAD", async () => {
    const dir = repo("bare");
    const marker = join(fx.root, "pwned-bare");
    const plant = `cp -r .git/objects .git/refs .git/HEAD src/ && printf '[core]\\n\\trepositoryformatversion = 0\\n\\tbare = false\\n\\tworktree = ..\\n\\tfsmonitor = "echo x > ${marker}; false"\\n' > src/config && echo planted`;
    const { result, stdout } = await runIn(sandbox, sh(plant), { cwd: dir });
    expect(stdout).toContain("planted");
    expect(existsSync(join(dir, "src", "HEAD"))).toBe(false);
    expect(result.violations.some((v) => v.path === join(dir, "src", "HEAD"))).toBe(true);
    expect(result.exitCode).toBe(1);
    expect(hostGitRuns(join(dir, "src"), marker, ["status"])).toBe(false);
  });

  it("ordinary git work (commit, branch, ignore rules in .gitignore) still exits 0 with no violation", async () => {
    const dir = repo("ordinary");
    const { result } = await runIn(sandbox, sh("echo b > b && echo out/ > .gitignore && git add b .gitignore && git -c user.name=t -c user.email=t@x commit -qm b && git branch x"), { cwd: dir });
    expect(result.violations).toEqual([]);
    expect(result.exitCode).toBe(0);
  });
});

describe("a `.git` that is a symlink (fourth review)", () => {
  /** A workspace whose `sub/.git` is a symlink to the repository `.sub-git` beside it. */
  const symlinkedSubRepo = (name: string): string => {
    const dir = repo(name);
    mkdirSync(join(dir, "sub"));
    git(dir, "init", "-q", "--bare", ".sub-git");
    git(join(dir, ".sub-git"), "config", "core.bare", "false");
    execFileSync("ln", ["-s", "../.sub-git", join(dir, "sub", ".git")]);
    return dir;
  };

  it("a nested repository whose .git links to a directory in the workspace has its config and hooks pinned", async () => {
    const dir = symlinkedSubRepo("symgit");
    const marker = join(fx.root, "symgit-pwned");
    const { result } = await runIn(
      sandbox,
      sh(`printf '#!/bin/sh\\necho x > ${marker}\\n' > .sub-git/fsmon; chmod +x .sub-git/fsmon; git -C sub config core.fsmonitor "$PWD/.sub-git/fsmon"; printf '#!/bin/sh\\necho x > ${marker}\\n' > .sub-git/hooks/pre-commit`),
      { cwd: dir },
    );
    expect(result.exitCode).not.toBe(0);
    expect(readFileSync(join(dir, ".sub-git", "config"), "utf8")).not.toContain("fsmonitor");
    expect(existsSync(join(dir, ".sub-git", "hooks", "pre-commit"))).toBe(false);
    expect(hostGitRuns(join(dir, "sub"), marker, ["status", "--short"])).toBe(false);
  });

  it("re-pointing an existing .git symlink at a planted repository is quarantined and reported", async () => {
    const dir = symlinkedSubRepo("symgit2");
    const marker = join(fx.root, "symgit2-pwned");
    const { result } = await runIn(
      sandbox,
      sh(`git init -q --bare .evil && git --git-dir=.evil config core.bare false && printf '#!/bin/sh\\necho x > ${marker}\\n' > .evil/fsmon && chmod +x .evil/fsmon && git --git-dir=.evil config core.fsmonitor "$PWD/.evil/fsmon" && ln -sfn ../.evil sub/.git && echo planted`),
      { cwd: dir },
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-write", path: join(dir, "sub", ".git"), evidence: "runner" }));
    expect(hostGitRuns(join(dir, "sub"), marker, ["status", "--short"])).toBe(false);
  });

  it("re-pointing a link further down the .git chain is quarantined too", async () => {
    const dir = repo("symgit3");
    mkdirSync(join(dir, "sub"));
    mkdirSync(join(dir, "links"));
    git(dir, "init", "-q", "--bare", ".sub-git");
    git(join(dir, ".sub-git"), "config", "core.bare", "false");
    execFileSync("ln", ["-s", "../.sub-git", join(dir, "links", "sg")]);
    execFileSync("ln", ["-s", "../links/sg", join(dir, "sub", ".git")]);
    const marker = join(fx.root, "symgit3-pwned");
    const { result } = await runIn(
      sandbox,
      sh(`git init -q --bare .evil && git --git-dir=.evil config core.bare false && printf '#!/bin/sh\\necho x > ${marker}\\n' > .evil/fsmon && chmod +x .evil/fsmon && git --git-dir=.evil config core.fsmonitor "$PWD/.evil/fsmon" && ln -sfn ../.evil links/sg && echo planted`),
      { cwd: dir },
    );
    expect(result.exitCode).not.toBe(0);
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-write", path: join(dir, "sub", ".git") }));
    expect(hostGitRuns(join(dir, "sub"), marker, ["status", "--short"])).toBe(false);
  });

  it("a .git symlink to a gitlink file does not refuse the run; the file it leads to is pinned", async () => {
    const dir = repo("symgit4");
    mkdirSync(join(dir, "sub"));
    git(dir, "init", "-q", "--bare", ".sub-git");
    git(join(dir, ".sub-git"), "config", "core.bare", "false");
    writeFileSync(join(dir, "sub.gitfile"), `gitdir: ${join(dir, ".sub-git")}\n`);
    execFileSync("ln", ["-s", "../sub.gitfile", join(dir, "sub", ".git")]);
    const { result } = await runIn(sandbox, sh("echo 'gitdir: /tmp/evil' > sub.gitfile"), { cwd: dir });
    expect(result.exitCode).not.toBe(0);
    expect(readFileSync(join(dir, "sub.gitfile"), "utf8")).toBe(`gitdir: ${join(dir, ".sub-git")}\n`);
    const ok = await runIn(sandbox, sh("true"), { cwd: dir });
    expect(ok.result.exitCode).toBe(0);
  });
});

describe("repositories that are not `.git` (fourth review)", () => {
  const pager = (marker: string): string => `printf '[core]\\n\\tpager = "touch ${marker}; cat"\\n\\tfsmonitor = "touch ${marker}; false"\\n'`;

  it.each([
    { name: "split with commondir", plant: (m: string) => `mkdir -p src .c/objects .c/refs && echo 'ref: refs/heads/main' > src/HEAD && echo ../.c > src/commondir && ${pager(m)} > .c/config` },
    { name: "with objects and refs as symlinks", plant: (m: string) => `mkdir -p x/objects x/refs lib && ln -s ../x/objects lib/objects && ln -s ../x/refs lib/refs && echo 'ref: refs/heads/main' > lib/HEAD && ${pager(m)} > lib/config` },
    { name: "moved in from a bare fixture (old timestamps)", plant: (m: string) => `${pager(m)} > fixtures/remote.git/config; rm -rf src && mv fixtures/remote.git src` },
  ])("a repository $name is quarantined; host git in that directory runs nothing", async ({ name, plant }) => {
    const dir = repo(`bare-${name.replace(/\W+/g, "-")}`);
    git(dir, "init", "-q", "--bare", "fixtures/remote.git");
    await new Promise((r) => setTimeout(r, 1100));
    const marker = join(fx.root, `pwned-${name.replace(/\W+/g, "-")}`);
    const { result } = await runIn(sandbox, sh(plant(marker)), { cwd: dir });
    const where = name.startsWith("with") ? "lib" : "src";
    // (moved: the fixture's config was pinned, so the write failed; the move itself is caught)
    expect(result.exitCode).not.toBe(0);
    expect(result.violations).toContainEqual(expect.objectContaining({ kind: "denied-write", path: join(dir, where, "HEAD"), evidence: "runner" }));
    expect(hostGitRuns(join(dir, where), marker, ["-c", "core.pager=cat", "log", "-1"])).toBe(false);
    expect(hostGitRuns(join(dir, where), marker, ["status"])).toBe(false);
  });

  it("a bare fixture repository in the workspace keeps working: a push into it is no violation", async () => {
    const dir = repo("bare-fixture-push");
    git(dir, "init", "-q", "--bare", "fixtures/remote.git");
    await new Promise((r) => setTimeout(r, 1100));
    const { result } = await runIn(sandbox, sh("git push -q fixtures/remote.git HEAD:refs/heads/main && git --git-dir=fixtures/remote.git log --oneline -1"), { cwd: dir });
    expect(result.violations.filter((v) => v.evidence !== "runner" || v.kind !== "denied-read")).toEqual([]);
    expect(result.exitCode).toBe(0);
    expect(git(join(dir, "fixtures", "remote.git"), "rev-parse", "HEAD").trim()).toMatch(/^[0-9a-f]{40}$/);
  });
});

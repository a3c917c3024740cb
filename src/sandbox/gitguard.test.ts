import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { checkGitDirs, createGitCache, forbiddenIndexPath, snapshotGitDirs } from "./gitguard.js";

let root = "";
let git = "";
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "gh-gitguard-"));
  git = join(root, ".git");
  for (const d of ["objects", "refs", "hooks", "worktrees/wt"]) mkdirSync(join(git, d), { recursive: true });
  writeFileSync(join(git, "HEAD"), "ref: refs/heads/main\n");
  writeFileSync(join(git, "config"), "");
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("git directory check", () => {
  it("leaves what git writes in normal use and removes what it must not", () => {
    const snap = snapshotGitDirs([git, join(git, "worktrees/wt")]);
    writeFileSync(join(git, "ORIG_HEAD"), "x");
    writeFileSync(join(git, "COMMIT_EDITMSG"), "x");
    writeFileSync(join(git, "index.lock"), "");
    writeFileSync(join(git, "commondir"), "../evil");
    mkdirSync(join(git, "worktrees/new"));
    const found = checkGitDirs(snap, join(root, "q"));
    expect(found.map((f) => f.path).sort()).toEqual([join(git, "commondir"), join(git, "worktrees/new")]);
    expect(existsSync(join(git, "ORIG_HEAD"))).toBe(true);
    expect(existsSync(join(git, "commondir"))).toBe(false);
    expect(readFileSync(join(root, "q", "0-commondir"), "utf8")).toBe("../evil");
  });

  it("keeps unknown state that existed before and did not change, removes it when it changed", () => {
    mkdirSync(join(git, "rebase-merge"));
    writeFileSync(join(git, "rebase-merge", "git-rebase-todo"), "pick 1\n");
    const snap = snapshotGitDirs([git]);
    expect(checkGitDirs(snap, join(root, "q"))).toEqual([]);
    writeFileSync(join(git, "rebase-merge", "git-rebase-todo"), "exec evil\n");
    expect(checkGitDirs(snap, join(root, "q")).map((f) => f.path)).toEqual([join(git, "rebase-merge")]);
  });

  it("never works through a directory swapped for a symlink", () => {
    const victim = join(root, "victim");
    mkdirSync(victim);
    writeFileSync(join(victim, "keep"), "x");
    const snap = snapshotGitDirs([git, join(git, "worktrees/wt")]);
    rmSync(join(git, "worktrees"), { recursive: true });
    symlinkSync(victim, join(git, "worktrees"));
    const found = checkGitDirs(snap, join(root, "q"));
    expect(found.map((f) => f.path)).toContain(join(git, "worktrees"));
    expect(readFileSync(join(victim, "keep"), "utf8")).toBe("x");
  });

  it("treats a changed info/exclude like other unknown state, and leaves an untouched one", () => {
    mkdirSync(join(git, "info"));
    writeFileSync(join(git, "info", "exclude"), "# x\n");
    writeFileSync(join(git, "info", "refs"), "");
    const snap = snapshotGitDirs([git]);
    writeFileSync(join(git, "info", "refs"), "changed");
    expect(checkGitDirs(snap, join(root, "q"))).toEqual([]);
    writeFileSync(join(git, "info", "exclude"), "sub/\n");
    writeFileSync(join(git, "info", "attributes"), "* filter=x\n");
    expect(checkGitDirs(snap, join(root, "q")).map((f) => f.path).sort()).toEqual([join(git, "info", "attributes"), join(git, "info", "exclude")]);
  });
});

describe("index paths git must never write", () => {
  it("refuses .git in any spelling a filesystem folds to it, dot components and absolute paths", () => {
    for (const bad of [".git/hooks/pre-commit", "a/.GIT/config", ".git./x", ".git  /x", "GIT~1/hooks/x", ".g\u200cit/hooks/x", "a\\.git\\hooks", "/etc/x", "a//b", "a/./b", "../x", "a/.."]) {
      expect(forbiddenIndexPath(bad), bad).toBeDefined();
    }
    for (const good of ["a", "src/.gitignore", ".github/workflows/ci.yml", "x.git/y", ".gitmodules", "dir/git~2"]) {
      expect(forbiddenIndexPath(good), good).toBeUndefined();
    }
  });
});

describe("git config answer cache", () => {
  const env = { PATH: process.env.PATH, HOME: "/nonexistent-gatehouse-home" };
  const repo = (): string => {
    const dir = join(root, "repo");
    mkdirSync(dir);
    execFileSync("git", ["init", "-q"], { cwd: dir, env });
    return dir;
  };
  const idle = (): boolean => false;

  it("reuses git's answer while every file it depends on has the same content, and asks again when one changed", () => {
    const dir = repo();
    const cache = createGitCache(idle);
    const first = cache.configView(dir, env, env.HOME);
    expect(cache.configView(dir, env, env.HOME)).toBe(first);
    // Same bytes written again (new mtime and ctime): content decides, so still the same answer.
    const config = join(dir, ".git", "config");
    writeFileSync(config, readFileSync(config));
    expect(cache.configView(dir, env, env.HOME)).toBe(first);
    writeFileSync(config, `${readFileSync(config, "utf8")}[include]\n\tpath = ../inc.cfg\n`);
    const second = cache.configView(dir, env, env.HOME);
    expect(second).not.toBe(first);
    expect(second?.includes).toContain(join(dir, "inc.cfg"));
    expect(cache.configView(dir, env, env.HOME)).toBe(second);
    // The include target did not exist; creating it (with a hooksPath) is seen at once.
    writeFileSync(join(dir, "inc.cfg"), "[core]\n\thooksPath = evil-hooks\n");
    expect(cache.configView(dir, env, env.HOME)?.hooksPaths).toEqual([join(dir, "evil-hooks")]);
  });

  it("a global config that appears after the first answer, or a HEAD that moves (includeIf onbranch), invalidates it", () => {
    const dir = repo();
    const home = join(root, "home");
    mkdirSync(home);
    const withHome = { ...env, HOME: home };
    const cache = createGitCache(idle);
    const first = cache.configView(dir, withHome, home);
    expect(cache.configView(dir, withHome, home)).toBe(first);
    writeFileSync(join(home, ".gitconfig"), "[includeIf \"onbranch:evil\"]\n\tpath = ~/onbranch.cfg\n");
    writeFileSync(join(home, "onbranch.cfg"), "[core]\n\thooksPath = ~/branch-hooks\n");
    expect(cache.configView(dir, withHome, home)?.hooksPaths).toEqual([]);
    writeFileSync(join(dir, ".git", "HEAD"), "ref: refs/heads/evil\n");
    expect(cache.configView(dir, withHome, home)?.hooksPaths).toEqual([join(home, "branch-hooks")]);
  });

  it("keeps nothing learned while another run of the sandbox is live (it could change a file between git's read and the hash)", () => {
    const dir = repo();
    let live = true;
    const cache = createGitCache(() => live);
    const first = cache.configView(dir, env, env.HOME);
    expect(cache.configView(dir, env, env.HOME)).not.toBe(first);
    live = false;
    const third = cache.configView(dir, env, env.HOME);
    expect(cache.configView(dir, env, env.HOME)).toBe(third);
  });
});

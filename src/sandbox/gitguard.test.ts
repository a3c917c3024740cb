import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { checkGitDirs, forbiddenIndexPath, gitConfigView, snapshotGitDirs } from "./gitguard.js";

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

describe("git config view", () => {
  it("ignores GIT_CONFIG in the host environment, which only `git config` itself would honour", () => {
    const dir = join(root, "repo");
    mkdirSync(dir);
    const env = { PATH: process.env.PATH, HOME: "/nonexistent-gatehouse-home" };
    execFileSync("git", ["init", "-q"], { cwd: dir, env });
    execFileSync("git", ["config", "core.fsmonitor", "./tools/fsmon"], { cwd: dir, env });
    writeFileSync(join(root, "other.cfg"), "");
    const view = gitConfigView(dir, { ...env, GIT_CONFIG: join(root, "other.cfg") }, env.HOME);
    expect(view?.programs).toEqual([join(dir, "tools", "fsmon")]);
  });
});

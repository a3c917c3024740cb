import { describe, expect, it } from "vitest";
import { classifyStderr } from "./violations.js";

const context = { cwd: "/w", hidden: ["/home/u"], denied: ["/w/.env"], protected: ["/w/.git", "/w/.git/hooks", "/w/.envrc"] };

describe("stderr classification", () => {
  it.each([
    ["sh: 1: cannot create .git/hooks/pre-commit: Read-only file system", "denied-write", "/w/.git/hooks/pre-commit"],
    ["sh: 1: cannot create .envrc: Is a directory", "denied-write", "/w/.envrc"],
    ["mv: cannot move '.git' to '.git-old': Device or resource busy", "denied-write", "/w/.git"],
    ["touch: cannot touch '/usr/x': Read-only file system", "denied-write", "/usr/x"],
    ["cat: /home/u/.ssh/id_ed25519: No such file or directory", "denied-read", "/home/u/.ssh/id_ed25519"],
    ["cat: /proc/self/root/home/u/.ssh/id_ed25519: No such file or directory", "denied-read", "/home/u/.ssh/id_ed25519"],
    ["cat: .env: Permission denied", "denied-read", "/w/.env"],
    ["unshare: unshare failed: Operation not permitted", "blocked-syscall", undefined],
    ["mount: /tmp: permission denied.", "blocked-syscall", undefined],
    ["socket.gaierror: [Errno -3] Temporary failure in name resolution", "blocked-connection", undefined],
    ["Error: connect ECONNREFUSED 127.0.0.1:5432", "blocked-connection", undefined],
    ["OSError: [Errno 101] Network is unreachable", "blocked-connection", undefined],
  ])("%s → %s", (line, kind, path) => {
    const [v] = classifyStderr(`${line}\n`, context);
    expect(v).toMatchObject({ kind, evidence: "stderr", ...(path ? { path } : {}) });
  });

  it.each([
    "cat: missing.txt: No such file or directory",
    "error: build failed",
    "warning: deprecated option",
  ])("an ordinary error is not a violation: %s", (line) => {
    expect(classifyStderr(line, context)).toEqual([]);
  });

  it("a symlink planted in the workspace is reported with where it leads", () => {
    const [v] = classifyStderr("cat: key-link: No such file or directory\n", { ...context, resolve: (p) => (p === "/w/key-link" ? "/home/u/.ssh/id_ed25519" : p) });
    expect(v).toMatchObject({ kind: "denied-read", path: "/w/key-link" });
    expect(v?.detail).toContain("/home/u/.ssh/id_ed25519");
  });

  it("a flood of stderr is read only up to its first 64 KiB, 50 reports at most", () => {
    const flood = Array.from({ length: 100_000 }, (_, i) => `touch: cannot touch '/usr/f${i}': Read-only file system`).join("\n");
    const started = performance.now();
    const found = classifyStderr(flood, context);
    expect(found.length).toBe(50);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

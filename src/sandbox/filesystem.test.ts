import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { planFilesystem, removePlaceholders, resolveWorkdir, type FilesystemInput } from "./filesystem.js";

let root = "";
let input: FilesystemInput;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "gh-fs-"));
  mkdirSync(join(root, "home", ".ssh"), { recursive: true });
  mkdirSync(join(root, "work", ".git", "hooks"), { recursive: true });
  writeFileSync(join(root, "work", ".git", "config"), "[core]\n");
  mkdirSync(join(root, "run", "tmp"), { recursive: true });
  input = {
    workdir: join(root, "work"),
    baseDir: root,
    workdirFromProfile: false,
    workdirAccess: "read-write",
    readable: [],
    writable: [],
    writableProtected: [],
    home: join(root, "home"),
    dataDir: join(root, "home", ".local", "share", "gatehouse"),
    runDir: join(root, "run"),
    homeSizeBytes: 1 << 20,
  };
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe("filesystem plan", () => {
  it("pins existing protected paths, makes their parents mount points, and placeholders the rest", () => {
    const plan = planFilesystem(input);
    const w = join(root, "work");
    expect(plan.mounts).toContainEqual({ op: "bind", src: join(w, ".git"), dest: join(w, ".git") });
    expect(plan.mounts).toContainEqual({ op: "ro-bind", src: join(w, ".git/hooks"), dest: join(w, ".git/hooks") });
    expect(plan.mounts).toContainEqual({ op: "ro-bind", src: join(w, ".git/config"), dest: join(w, ".git/config") });
    const hookManagers = [".lefthook-local.yml", ".lefthook.yml", ".lintstagedrc", ".lintstagedrc.cjs", ".lintstagedrc.js", ".lintstagedrc.json", ".lintstagedrc.mjs", ".lintstagedrc.yaml", ".lintstagedrc.yml", ".pre-commit-config.yaml", "lefthook-local.yml", "lefthook.yml"];
    expect(plan.placeholders.map((p) => p.path).sort()).toEqual([".envrc", ".husky", ".idea", ".npmrc", ".vscode", ".yarnrc", ".yarnrc.yml", ...hookManagers].map((n) => join(w, n)).sort());
    // the workdir bind comes before the pins inside it, or the pins would be covered
    const order = (dest: string): number => plan.mounts.findIndex((m) => m.dest === dest);
    expect(order(w)).toBeLessThan(order(join(w, ".git/hooks")));
    expect(order(join(root, "home"))).toBeLessThan(order(w));
    removePlaceholders(plan.placeholders);
    for (const p of plan.placeholders) expect(existsSync(p.path)).toBe(false);
  });

  it("leaves a placeholder that someone filled meanwhile", () => {
    const plan = planFilesystem(input);
    const husky = plan.placeholders.find((p) => p.path.endsWith(".husky"))!;
    writeFileSync(join(husky.path, "pre-commit"), "x");
    removePlaceholders(plan.placeholders);
    expect(existsSync(join(husky.path, "pre-commit"))).toBe(true);
  });

  it("a read-only workdir needs no pins", () => {
    const plan = planFilesystem({ ...input, workdirAccess: "read-only" });
    expect(plan.placeholders).toEqual([]);
    expect(plan.mounts).toContainEqual({ op: "ro-bind", src: join(root, "work"), dest: join(root, "work") });
  });

  it("masks .env files but not their templates", () => {
    writeFileSync(join(root, "work", ".env"), "A=1");
    writeFileSync(join(root, "work", ".env.local"), "A=1");
    writeFileSync(join(root, "work", ".env.example"), "A=");
    mkdirSync(join(root, "work", "node_modules", "pkg"), { recursive: true });
    writeFileSync(join(root, "work", "node_modules", "pkg", ".env"), "A=1");
    const plan = planFilesystem(input);
    const masked = plan.mounts.filter((m) => m.op === "ro-bind" && m.src.endsWith("mask-file") && m.dest.startsWith(root)).map((m) => m.dest);
    expect(masked.sort()).toEqual([join(root, "work", ".env"), join(root, "work", ".env.local")]);
    removePlaceholders(plan.placeholders);
  });

  it("masks the data directory and credentials inside a readable home", () => {
    mkdirSync(input.dataDir, { recursive: true });
    writeFileSync(join(root, "home", ".ssh", "id_ed25519"), "k");
    const plan = planFilesystem({ ...input, readable: [join(root, "home")] });
    const masked = plan.mounts.filter((m) => m.op === "ro-bind" && /mask-(file|dir)$/.test(m.src)).map((m) => m.dest);
    expect(masked).toContain(join(root, "home", ".ssh"));
    expect(masked).toContain(input.dataDir);
    removePlaceholders(plan.placeholders);
  });

  it.each([
    ["the data directory as a readable extra", { readable: ["~/.local/share/gatehouse"] }, "path-invalid"],
    ["/ as a writable extra", { writable: ["/"] }, "path-invalid"],
    ["a missing extra", { readable: ["/nonexistent-gh"] }, "path-invalid"],
  ])("refuses %s", (_name, extra, code) => {
    mkdirSync(input.dataDir, { recursive: true });
    expect(() => planFilesystem({ ...input, ...extra })).toThrow(expect.objectContaining({ code }));
  });

  it("refuses a protected path that is a symlink, and creates no placeholder on the way", () => {
    symlinkSync("/dev/null", join(root, "work", ".npmrc"));
    expect(() => planFilesystem(input)).toThrow(expect.objectContaining({ code: "protected-path-symlink" }));
    expect(existsSync(join(root, "work", ".envrc"))).toBe(false);
  });
});

describe("working directory bounds", () => {
  it.each([
    ["/", "workdir-out-of-bounds"],
    ["/usr/lib", "workdir-out-of-bounds"],
    ["/proc", "workdir-out-of-bounds"],
    ["HOME", "workdir-out-of-bounds"],
    ["ROOT", "workdir-out-of-bounds"],
    ["HOME/.ssh", "workdir-out-of-bounds"],
    ["ROOT/missing", "workdir-invalid"],
  ])("%s → %s", (dir, code) => {
    const workdir = dir.replace("HOME", join(root, "home")).replace("ROOT", root);
    expect(() => resolveWorkdir({ ...input, workdir })).toThrow(expect.objectContaining({ code }));
  });

  it("a relative profile workdir must stay inside the policy directory after symlinks", () => {
    symlinkSync(join(root, "home"), join(root, "work", "out"));
    expect(() => resolveWorkdir({ ...input, baseDir: join(root, "work"), workdir: "./out", workdirFromProfile: true })).toThrow(expect.objectContaining({ code: "workdir-out-of-bounds" }));
    mkdirSync(join(root, "work", "app"));
    expect(resolveWorkdir({ ...input, baseDir: join(root, "work"), workdir: "./app", workdirFromProfile: true }).workdir).toBe(join(root, "work", "app"));
  });
});

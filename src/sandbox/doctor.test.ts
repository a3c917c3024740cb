import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildBwrapArgs } from "./bwrap.js";
import { BWRAP_OPTIONS_USED, formatDoctorReport, missingBwrapOptions, probeHost, scratchRoot } from "./doctor.js";

/** The option lines of `bwrap --help` as bubblewrap 0.8.0 prints them (abridged to what we use). */
const HELP_080 = `usage: bwrap [OPTIONS...] [--] COMMAND [ARGS...]

    --help                       Print this help
    --version                    Print version
${BWRAP_OPTIONS_USED.map((o) => `    ${o.padEnd(28)} something`).join("\n")}
`;

describe("the bwrap options check", () => {
  it("finds nothing missing in a bwrap that lists every option used", () => {
    expect(missingBwrapOptions(HELP_080)).toEqual([]);
  });

  it("names what an older bwrap lacks (0.7 had no --disable-userns, no --size)", () => {
    const help070 = HELP_080.split("\n").filter((l) => !/--disable-userns|--size/.test(l)).join("\n");
    expect(missingBwrapOptions(help070)).toEqual(["--disable-userns", "--size"]);
  });

  it("covers every option the runner passes to bwrap", () => {
    const args = buildBwrapArgs({
      mounts: [
        { op: "ro-bind", src: "/usr", dest: "/usr" },
        { op: "bind", src: "/w", dest: "/w" },
        { op: "symlink", target: "usr/bin", dest: "/bin" },
        { op: "tmpfs", dest: "/home/u", sizeBytes: 1024 },
        { op: "dir", dest: "/var" },
      ],
      cwd: "/w",
      network: "proxy",
      block: true,
      argv: ["true"],
    });
    const used = new Set(args.slice(0, args.indexOf("--")).filter((a) => a.startsWith("--")));
    expect([...used].filter((o) => !(BWRAP_OPTIONS_USED as readonly string[]).includes(o))).toEqual([]);
  });

  it("the host probe lists the installed bwrap's missing options, also without spawn checks", () => {
    for (const host of [probeHost(), probeHost({ spawnChecks: false })]) {
      if (!host.bwrap) continue;
      expect(host.bwrap.missingOptions).toEqual([]);
    }
  });

  it("the doctor says TOO OLD and names the options when some are missing", () => {
    const host = probeHost({ spawnChecks: false });
    const old = { ...host, bwrap: { path: "/usr/bin/bwrap", version: "0.7.0", missingOptions: ["--disable-userns", "--size"] }, problems: ["too old"] };
    const text = formatDoctorReport(old).join("\n");
    expect(text).toMatch(/bubblewrap\s+TOO OLD .*--disable-userns --size; need >= 0\.8\.0/);
    expect(text).toMatch(/sandbox: UNAVAILABLE/);
  });
});

describe("scratch root for a run's control files", () => {
  it("prefers $XDG_RUNTIME_DIR, then /dev/shm, then the OS temp directory", () => {
    const dir = mkdtempSync(join(tmpdir(), "gh-xdg-runtime-"));
    try {
      expect(scratchRoot({ XDG_RUNTIME_DIR: dir })).toBe(dir);
      const fallback = scratchRoot({ XDG_RUNTIME_DIR: "relative/not/used" });
      expect(fallback === "/dev/shm" || fallback === tmpdir()).toBe(true);
      expect(scratchRoot({ XDG_RUNTIME_DIR: join(dir, "missing") })).toBe(fallback);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

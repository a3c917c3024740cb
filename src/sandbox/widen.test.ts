import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { applyWidenings, parseWidenings } from "./widen.js";
import { BUILTIN_PROFILES, profilesOf } from "./profile.js";

const root = mkdtempSync(join(tmpdir(), "gh-widen-"));
const home = join(root, "home");
mkdirSync(join(home, ".cache", "npm"), { recursive: true });
mkdirSync(join(root, "work", "sub"), { recursive: true });
symlinkSync(join(home, ".cache"), join(root, "work", "cache-link"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("widenings", () => {
  it("are canonical: real paths, ~ expanded, relative to the run's directory, deduplicated and sorted", () => {
    const got = parseWidenings(["writable=~/.cache/npm", "network", "readable=sub", "writable=cache-link/npm", "writable-protected=.git/hooks/", "network"], { home, cwd: join(root, "work") });
    expect(got).toEqual(["network", `readable=${join(root, "work", "sub")}`, "writable-protected=.git/hooks", `writable=${join(home, ".cache", "npm")}`]);
  });

  it.each([["everything"], ["writable="], ["readable=/no/such/path"], ["writable-protected=/abs"], ["writable-protected=../up"], ["network=1"]])("refuses `%s`", (value) => {
    expect(() => parseWidenings([value], { home, cwd: root })).toThrow(expect.objectContaining({ code: "widening-invalid" }));
  });

  it("apply on top of the profile without changing it", async () => {
    const build = (await profilesOf(undefined)).get("build")!;
    const wider = applyWidenings(build, ["network", "readable=/opt/x", "writable=/srv/y", "writable-protected=.npmrc"]);
    expect(wider).toMatchObject({ network: "proxy", readable: ["/opt/x"], writable: ["/srv/y"], writableProtected: [".npmrc"] });
    expect(build).toMatchObject({ network: "none", readable: [], writable: [], writableProtected: [] });
    expect(BUILTIN_PROFILES.build!.network).toBe("none");
  });
});

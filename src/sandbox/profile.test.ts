import { describe, expect, it } from "vitest";
import { BUILTIN_PROFILES, DEFAULT_LIMITS, parseSandboxPolicy, profilesOf, resolveProfile } from "./profile.js";

describe("sandbox profiles", () => {
  it("ships readonly, build and networked with safe defaults", async () => {
    const profiles = await profilesOf(undefined);
    expect([...profiles.keys()].sort()).toEqual(["build", "networked", "readonly"]);
    expect(profiles.get("readonly")).toMatchObject({ workdirAccess: "read-only", network: "none", isolation: "bubblewrap" });
    expect(profiles.get("build")).toMatchObject({ workdirAccess: "read-write", network: "none" });
    expect(profiles.get("networked")).toMatchObject({ network: "proxy" });
    expect(profiles.get("build")!.limits).toEqual(DEFAULT_LIMITS);
  });

  it("a policy profile overrides limits field by field and keeps the rest", async () => {
    const policy = await parseSandboxPolicy("sandbox:\n  profiles:\n    ci:\n      limits: { memoryMb: 512 }\n", "p.yaml", "/x");
    const ci = (await profilesOf(policy)).get("ci")!;
    expect(ci.limits).toEqual({ ...DEFAULT_LIMITS, memoryMb: 512 });
    expect(ci.baseDir).toBe("/x");
  });

  it("a file without a sandbox section yields the built-ins", async () => {
    expect((await parseSandboxPolicy("version: 1\ntools: {}\n", "p.yaml", "/x")).config).toEqual({});
  });

  it.each([
    ["an unknown key", "sandbox:\n  profiles:\n    p:\n      netwrok: none\n", "p.yaml:4:7 sandbox.profiles.p"],
    ["isolation neither bubblewrap nor none", "sandbox:\n  profiles:\n    p:\n      isolation: docker\n", "p.yaml:4:18 sandbox.profiles.p.isolation"],
    ["an upper-case profile name", "sandbox:\n  profiles:\n    Build: {}\n", "sandbox.profiles.Build"],
    ["an env name with a dash", "sandbox:\n  profiles:\n    p:\n      env: { allow: [MY-VAR] }\n", "sandbox.profiles.p.env.allow.0"],
    ["bad YAML", "sandbox: [\n", "p.yaml:"],
  ])("refuses %s, naming the place", async (_name, text, where) => {
    await expect(parseSandboxPolicy(text, "p.yaml", "/x")).rejects.toThrow(expect.objectContaining({ code: "profile-invalid", message: expect.stringContaining(where) }));
  });

  it("resolveProfile validates configs built in code", async () => {
    await expect(resolveProfile("x", { limits: { openFiles: 3 } })).rejects.toThrow(expect.objectContaining({ code: "profile-invalid" }));
    expect((await resolveProfile("build", BUILTIN_PROFILES.build!)).name).toBe("build");
  });

  it("a policy built in code is validated whole before its profiles are used", async () => {
    await expect(profilesOf({ config: { profiles: { p: { limits: { memoryMb: -1 } } } } })).rejects.toThrow(expect.objectContaining({ code: "profile-invalid", message: expect.stringContaining("sandbox.profiles.p.limits.memoryMb") }));
    await expect(profilesOf({ config: { profiles: { p: { netwrok: "none" } as never } } })).rejects.toThrow(expect.objectContaining({ code: "profile-invalid" }));
  });
});

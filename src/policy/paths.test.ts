import { describe, expect, it } from "vitest";
import { isWithinPrefix, normalizePath } from "./paths.js";

describe("normalizePath", () => {
  it.each([
    ["/srv/data/file.txt", "/srv/data/file.txt"],
    ["/srv/data/../../etc/passwd", "/etc/passwd"],
    ["/srv/data/./a//b/", "/srv/data/a/b"],
    ["/srv/data/%2e%2e/%2e%2e/etc/passwd", "/etc/passwd"],
    ["/srv/data/%2E%2E%2Fsecret", "/srv/secret"],
    ["/srv/data//..//../etc/shadow", "/etc/shadow"],
    ["/../../../../etc/passwd", "/etc/passwd"],
    ["/", "/"],
    ["relative/../../x", "../x"],
  ])("normalises %j to %j", (input, expected) => {
    expect(normalizePath(input)).toEqual({ ok: true, path: expected });
  });

  it.each([
    ["/srv/data/%252e%252e/etc", "nested-encoding"],
    ["/srv/data/%zz", "bad-encoding"],
    ["/srv/data/a\u0000.txt", "nul-byte"],
    ["/srv/data/%00", "nul-byte"],
    ["", "empty"],
  ])("refuses %j (%s)", (input, refusal) => {
    const result = normalizePath(input);
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.refusal).toBe(refusal);
  });

  it("refuses a value that is not a string", () => {
    expect(normalizePath(42)).toMatchObject({ ok: false, refusal: "not-a-string" });
  });
});

describe("isWithinPrefix", () => {
  it.each([
    ["/srv/data", "/srv/data/", true],
    ["/srv/data/a", "/srv/data/", true],
    ["/srv/data/a", "/srv/data", true],
    ["/srv/database", "/srv/data", false],
    ["/srv/database", "/srv/data/", false],
    ["/srv", "/srv/data/", false],
    ["/etc/passwd", "/", true],
    ["relative", "/", false],
  ])("%j within %j is %s", (path, prefix, expected) => {
    expect(isWithinPrefix(path, prefix)).toBe(expected);
  });
});

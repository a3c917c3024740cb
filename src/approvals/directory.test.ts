import { describe, expect, it } from "vitest";
import { createApproverDirectory, tokenDigest } from "./directory.js";
import { compileGrantArgs } from "./grants.js";

describe("the approver directory", () => {
  const directory = createApproverDirectory({
    alice: { roles: ["approver"], tokenSha256: tokenDigest("alice-secret") },
    root: { roles: ["admin"], tokenSha256: tokenDigest("root-secret") },
    quiet: { roles: ["approver"] },
  });

  it.each([
    ["alice's token", "alice-secret", "alice"],
    ["the admin's token", "root-secret", "root"],
    ["an unknown token", "guess", undefined],
    ["an empty token", "", undefined],
    ["a token differing in case", "ALICE-SECRET", undefined],
    ["an overlong token", "x".repeat(2000), undefined],
  ])("authenticates %s as %s", (_what, token, name) => {
    expect(directory.authenticate(token)?.name).toBe(name);
  });

  it("knows whether any approver can use the API", () => {
    expect(directory.hasTokens()).toBe(true);
    expect(createApproverDirectory({ quiet: { roles: ["approver"] } }).hasTokens()).toBe(false);
  });
});

describe("grant scopes", () => {
  it.each([
    [{ amount: 50 }, true],
    [{ amount: 51 }, false],
    [{ amount: "50" }, false],
    [{ amount: 5, extra: true }, false],
  ])("matches %j: %s", (args, expected) => {
    const matches = compileGrantArgs({ type: "object", additionalProperties: false, properties: { amount: { type: "number", maximum: 50 } } });
    expect(matches(args)).toBe(expected);
  });

  it("uses linear-time regexes: a pathological pattern and input return at once", () => {
    const matches = compileGrantArgs({ type: "string", pattern: "^(a+)+$" });
    const started = performance.now();
    expect(matches(`${"a".repeat(5000)}!`)).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });
});

import { describe, expect, it } from "vitest";
import { actionDigest, canonicalJson } from "./canonical.js";

describe("canonicalJson (RFC 8785)", () => {
  it.each([
    [{ b: 1, a: [true, null, "x"] }, '{"a":[true,null,"x"],"b":1}'],
    [{ "\u20ac": 1, "\r": 2, "1": 3 }, '{"\\r":2,"1":3,"€":1}'],
    [[1e21, 1e-7, 0.1, -0, 100], "[1e+21,1e-7,0.1,0,100]"],
    ["\u2028\u0007", '"\u2028\\u0007"'],
    [{ a: undefined, b: 1 }, '{"b":1}'],
  ])("encodes %j as %s", (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it.each([
    [undefined, "has no JSON form"],
    [[1, undefined], "array element is undefined"],
    [{ n: Number.NaN }, "has no JSON form"],
    [{ f: () => 1 }, "has no JSON form"],
    [{ big: 1n }, "has no JSON form"],
  ])("refuses %s", (value, message) => {
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it("refuses a cycle", () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(() => canonicalJson(cycle)).toThrow("cycle");
  });
});

describe("actionDigest", () => {
  const base = { agent: "bot", tool: "send_email", args: { to: ["a@example.com"], n: 1 }, policyDigest: "p1", environment: "production", principal: "bob", approvers: 1 };

  it("ignores key order", () => {
    expect(actionDigest(base)).toBe(actionDigest({ ...base, args: { n: 1, to: ["a@example.com"] } }));
  });

  it.each([
    ["another agent", { agent: "bot2" }],
    ["another tool", { tool: "send_emails" }],
    ["one argument byte", { args: { to: ["a@example.con"], n: 1 } }],
    ["a number spelled as a string", { args: { to: ["a@example.com"], n: "1" } }],
    ["another policy", { policyDigest: "p2" }],
    ["another environment", { environment: "staging" }],
    ["another principal", { principal: "alice" }],
    ["more approvers", { approvers: 2 }],
  ])("changes with %s", (_name, change) => {
    expect(actionDigest({ ...base, ...change })).not.toBe(actionDigest(base));
  });
});

import { describe, expect, it } from "vitest";
import { CelCompileError, compileCondition, type CelActivation } from "./cel.js";

const activation: CelActivation = {
  tool: "send_email",
  args: { to: ["a@example.com", "b@evil.test"], amount: 12.5, nested: { deep: [1, 2, 3] } },
  risk: "high-risk-write",
  irreversible: false,
  agent: "bot",
  environment: "production",
  principal: "alice",
  run: "run-1",
  request: "answer the ticket",
};

describe("compileCondition", () => {
  it.each([
    [`tool == "send_email"`, ["send_email"]],
    [`tool == "a" && size(args.to) > 1`, ["a"]],
    [`size(args.to) > 1 && tool in ["a", "b"]`, ["a", "b"]],
    [`tool in ["a", "b"] && tool == "b"`, ["b"]],
    [`tool == "a" || tool == "b"`, undefined],
    [`!(tool == "a")`, undefined],
    [`tool.startsWith("db_")`, undefined],
    [`risk == "high-risk-write"`, undefined],
  ])("pins %s to %j", (source, tools) => {
    const pinned = compileCondition(source).tools;
    expect(pinned === undefined ? undefined : [...pinned].sort()).toEqual(tools);
  });

  it.each([
    [`size(args.to) > 1`, true],
    [`args.to.exists(t, !t.endsWith("@example.com"))`, true],
    [`args.to.all(t, t.endsWith("@example.com"))`, false],
    [`args.amount > 10`, true],
    [`args.amount > 10000`, false],
    [`args.nested.deep[2] == 3`, true],
    [`principal == "alice" && environment == "production" && !irreversible`, true],
    [`request.contains("ticket")`, true],
    [`tool.matches("^send_")`, true],
  ])("evaluates %s to %s", (source, expected) => {
    expect(compileCondition(source).evaluate(activation)).toBe(expected);
  });

  it("returns an Error, not a value, when a field is missing", () => {
    const result = compileCondition("args.missing > 1").evaluate(activation);
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toMatch(/missing/);
  });

  it("returns an Error when the expression is not a bool", () => {
    const result = compileCondition("size(args.to)").evaluate(activation);
    expect(result).toBeInstanceOf(Error);
    expect((result as Error).message).toContain("not a bool");
  });

  it("refuses an unknown variable with a suggestion and its offset", () => {
    const error = (() => {
      try {
        compileCondition(`size(args.to) > 1 && toool == "x"`);
      } catch (e) {
        return e;
      }
      return undefined;
    })() as CelCompileError;
    expect(error).toBeInstanceOf(CelCompileError);
    expect(error.message).toBe("unknown variable `toool`");
    expect(error.help).toBe("did you mean `tool`?");
    expect(error.offset).toBe(21);
  });

  it("accepts comprehension variables but not outside their loop", () => {
    expect(() => compileCondition(`args.to.exists(t, t == "x")`)).not.toThrow();
    expect(() => compileCondition(`args.to.exists(t, t == "x") && t == "y"`)).toThrow("unknown variable `t`");
  });

  it("reports a syntax error with its offset", () => {
    expect(() => compileCondition(`tool == `)).toThrow(CelCompileError);
  });

  it("when a rule's regex is catastrophic for a backtracking engine, matches() stays linear", () => {
    const condition = compileCondition(`request.matches("^(a+)+$")`);
    const started = performance.now();
    const result = condition.evaluate({ ...activation, request: `${"a".repeat(5000)}!` });
    expect(result).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe("pins", () => {
  it.each([
    [`principal == "alice" && size(args.to) > 1`, { principal: ["alice"] }],
    [`"production" == environment && risk in ["high-risk-write", "low-risk-write"]`, { environment: ["production"], risk: ["high-risk-write", "low-risk-write"] }],
    [`tool == "a" && tool == "b"`, { tool: [] }],
    [`agent == "x" || agent == "y"`, {}],
    [`principal.startsWith("contractor-")`, {}],
    [`run == "r1"`, {}],
  ])("reads %s as %j", (source, expected) => {
    const pins = Object.fromEntries([...compileCondition(source).pins].map(([k, v]) => [k, [...v].sort()]));
    expect(pins).toEqual(expected);
  });

  it("never pins a value the expression could match without", () => {
    // Soundness: for every activation where the expression is true, each pin admits the value.
    const sources = [`principal == "alice" && environment == "production"`, `tool in ["send_email", "x"] && risk == "high-risk-write"`];
    for (const source of sources) {
      const condition = compileCondition(source);
      for (const principal of ["alice", "bob"]) {
        for (const environment of ["production", "staging"]) {
          const act = { ...activation, principal, environment };
          if (condition.evaluate(act) === true) {
            for (const [name, values] of condition.pins) expect(values.has(act[name])).toBe(true);
          }
        }
      }
    }
  });
});

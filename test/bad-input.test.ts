import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { DECISION_CODES } from "../src/core/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createGate } from "../src/gate/index.js";
import { loadPolicyFile, parsePolicy, PolicyError } from "../src/policy/index.js";

const support = await loadPolicyFile(new URL("../examples/support-agent.yaml", import.meta.url).pathname);

function deep(depth: number): unknown {
  let value: unknown = "leaf";
  for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { nested: value };
  return value;
}

describe("the loader under arbitrary input", () => {
  it("never throws anything but a PolicyError with located problems, for arbitrary text", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 400 }), (text) => {
        try {
          parsePolicy(text, "fuzz.yaml");
        } catch (error) {
          expect(error).toBeInstanceOf(PolicyError);
          for (const problem of (error as PolicyError).problems) {
            expect(problem.file).toBe("fuzz.yaml");
            expect(problem.message.length).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it("never throws anything but a PolicyError for arbitrary YAML documents", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (value) => {
        try {
          parsePolicy(stringify(value), "fuzz.yaml");
        } catch (error) {
          expect(error).toBeInstanceOf(PolicyError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("never throws anything but a PolicyError for policy-shaped documents with random parts", () => {
    const verdicts = fc.constantFrom("allow", "deny", "ask", "dry-run", "maybe", 1, null);
    const policy = fc.record({
      version: fc.constantFrom(1, 2, "1"),
      agents: fc.dictionary(fc.string({ maxLength: 8 }), fc.record({ owner: fc.string(), environment: fc.constantFrom("production", "dev", 3) })),
      tools: fc.dictionary(
        fc.string({ maxLength: 8 }),
        fc.record({ risk: fc.constantFrom("read-only", "high-risk-write", "x"), args: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constant({ type: "object", properties: { p: { type: "string", pattern: "(" } } })) }, { requiredKeys: ["risk"] }),
      ),
      rules: fc.array(fc.record({ id: fc.string({ maxLength: 6 }), when: fc.oneof(fc.string({ maxLength: 30 }), fc.constant('tool == "x"')), decision: verdicts })),
    });
    fc.assert(
      fc.property(policy, (value) => {
        try {
          parsePolicy(stringify(value), "fuzz.yaml");
        } catch (error) {
          expect(error).toBeInstanceOf(PolicyError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses an alias bomb instead of expanding it", () => {
    const bomb = ["version: 1", "a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}, *${String.fromCharCode(97 + i)}]`)].join("\n");
    const started = performance.now();
    expect(() => parsePolicy(bomb, "bomb.yaml")).toThrow(PolicyError);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("refuses a policy larger than 1 MiB", () => {
    expect(() => parsePolicy(`# ${"x".repeat(1024 * 1024 + 1)}`, "big.yaml")).toThrow(/larger than/);
  });
});

describe("the gate under arbitrary actions", () => {
  const gate = createGate({ policy: support, audit: createMemoryAuditLog() });
  const tools = fc.constantFrom(...support.tools.keys(), "unlisted", "", "__proto__", "constructor");

  it("always answers with a decision, for arguments of every JSON type", async () => {
    await fc.assert(
      fc.asyncProperty(tools, fc.oneof(fc.jsonValue(), fc.anything()), async (tool, args) => {
        const { decision } = await gate.decide({ tool, args, agent: "support-bot" });
        expect(["allow", "deny", "ask", "dry-run"]).toContain(decision.verdict);
        expect(DECISION_CODES).toContain(decision.code);
        expect(decision.reasons.length).toBeGreaterThan(0);
      }),
      { numRuns: 500 },
    );
  });

  it("denies malformed actions instead of throwing", async () => {
    for (const action of [null, undefined, 42, "send_email", { tool: 42, args: {} }, { tool: ["send_email"], args: {} }, {}] as unknown[]) {
      const { decision } = await gate.decide(action as never);
      expect(decision.verdict).toBe("deny");
    }
  });

  it("handles huge strings and deep nesting without crashing or hanging", async () => {
    const started = performance.now();
    const cases = [
      { tool: "send_email", args: { to: ["a@example.com"], subject: "s".repeat(5_000_000), body: "b" } },
      { tool: "send_email", args: { to: ["x".repeat(1_000_000)], subject: "s", body: "b" } },
      { tool: "get_order", args: { order_id: deep(5000) } },
      { tool: "read_file", args: { path: `/srv/kb/${"../".repeat(100_000)}etc/passwd` } },
      { tool: "run_sql", args: deep(3000) },
      { tool: "x".repeat(1_000_000), args: {} },
    ];
    for (const action of cases) {
      const { decision } = await gate.decide({ ...action, agent: "support-bot" });
      expect(decision.verdict).toBe("deny");
    }
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

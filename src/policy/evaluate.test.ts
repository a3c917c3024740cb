import { describe, expect, it } from "vitest";
import type { Action } from "../core/index.js";
import { evaluatePolicy, explainPolicy } from "./evaluate.js";
import { parsePolicy } from "./load.js";

const POLICY = parsePolicy(
  `
version: 1
agents:
  support:
    owner: support@example.com
    environment: production
  intern:
    owner: support@example.com
    environment: development
    tools: [get_order]
tools:
  get_order:
    risk: read-only
    args:
      type: object
      required: [order_id]
      properties:
        order_id: { type: string, pattern: "^ord_[0-9]+$" }
        note: { type: string, pattern: "^[a-z ]*$" }
  update_note:
    risk: low-risk-write
    args:
      type: object
      properties:
        order_id: { type: string }
  send_email:
    risk: high-risk-write
    args:
      type: object
      required: [to]
      properties:
        to: { type: array, items: { type: string, format: email }, maxItems: 20000 }
        cc: { type: array, items: { type: string, format: email } }
  delete_account:
    risk: high-risk-write
    irreversible: true
    args: { type: object, properties: { id: { type: string } } }
  archive:
    risk: low-risk-write
    irreversible: true
    args: { type: object, properties: { id: { type: string } } }
  read_file:
    risk: read-only
    args:
      type: object
      required: [path]
      properties:
        path: { type: string, pathPrefix: [/srv/data/, /srv/shared] }
  batch_read:
    risk: read-only
    args:
      type: object
      properties:
        paths: { type: array, items: { type: string, pathPrefix: /srv/data/ } }
rules:
  - id: deny-huge
    when: tool == "send_email" && size(args.to) > 10000
    decision: deny
    reason: too many recipients
  - id: two-approvers
    when: tool == "send_email" && size(args.to) > 100
    decision: ask
    approvers: 2
  - id: one-approver
    when: tool == "send_email" && size(args.to) > 1
    decision: ask
  - id: cc-breaks
    when: tool == "send_email" && has(args.cc) && args.cc[0] == "x@example.com"
    decision: allow
  - id: single-internal
    when: tool == "send_email" && args.to.all(t, t.endsWith("@example.com"))
    decision: allow
defaults:
  read-only: allow
  low-risk-write: allow
  high-risk-write: ask
  environments:
    development:
      low-risk-write: dry-run
      high-risk-write: dry-run
`,
  "test.yaml",
);

const emails = (n: number) => Array.from({ length: n }, (_, i) => `user${i}@example.com`);

describe("evaluatePolicy decision table", () => {
  it.each<[string, Action, string, string, string[]]>([
    // default deny: anything not listed
    ["an unlisted tool", { agent: "support", tool: "drop_table", args: {} }, "deny", "tool-not-listed", []],
    ["a tool name differing only in case", { agent: "support", tool: "Get_Order", args: { order_id: "ord_1" } }, "deny", "tool-not-listed", []],
    ["an unknown agent", { agent: "mallory", tool: "get_order", args: { order_id: "ord_1" } }, "deny", "agent-unknown", []],
    ["no agent when several are declared", { tool: "get_order", args: { order_id: "ord_1" } }, "deny", "agent-required", []],
    ["a listed tool the agent may not use", { agent: "intern", tool: "send_email", args: { to: ["a@example.com"] } }, "deny", "tool-not-for-agent", []],
    // argument constraints
    ["a valid read", { agent: "support", tool: "get_order", args: { order_id: "ord_42" } }, "allow", "allowed-by-default", []],
    ["a pattern mismatch", { agent: "support", tool: "get_order", args: { order_id: "42" } }, "deny", "args-invalid", []],
    ["a second pattern in the same schema", { agent: "support", tool: "get_order", args: { order_id: "ord_1", note: "Hello!" } }, "deny", "args-invalid", []],
    ["an unlisted argument", { agent: "support", tool: "get_order", args: { order_id: "ord_1", sql: "x" } }, "deny", "args-invalid", []],
    ["arguments that are a list", { agent: "support", tool: "get_order", args: ["ord_1"] }, "deny", "args-invalid", []],
    ["arguments that are null", { agent: "support", tool: "get_order", args: null }, "deny", "args-invalid", []],
    ["a bad email format", { agent: "support", tool: "send_email", args: { to: ["not-an-email"] } }, "deny", "args-invalid", []],
    // path prefixes after normalisation
    ["a path inside the prefix", { agent: "support", tool: "read_file", args: { path: "/srv/data/a.txt" } }, "allow", "allowed-by-default", []],
    ["a path in the second prefix", { agent: "support", tool: "read_file", args: { path: "/srv/shared/b" } }, "allow", "allowed-by-default", []],
    ["a dot-dot traversal", { agent: "support", tool: "read_file", args: { path: "/srv/data/../../etc/passwd" } }, "deny", "args-invalid", []],
    ["an encoded traversal", { agent: "support", tool: "read_file", args: { path: "/srv/data/%2e%2e/%2e%2e/etc/passwd" } }, "deny", "args-invalid", []],
    ["a sibling that shares the prefix's spelling", { agent: "support", tool: "read_file", args: { path: "/srv/shared-secrets/x" } }, "deny", "args-invalid", []],
    ["a traversal inside an array", { agent: "support", tool: "batch_read", args: { paths: ["/srv/data/a", "/srv/data/../x"] } }, "deny", "args-invalid", []],
    // ordered rules with escalating thresholds
    ["one internal recipient", { agent: "support", tool: "send_email", args: { to: ["a@example.com"] } }, "allow", "allowed-by-rule", ["single-internal"]],
    ["one outside recipient", { agent: "support", tool: "send_email", args: { to: ["a@evil.test"] } }, "ask", "asked-by-default", []],
    ["two recipients", { agent: "support", tool: "send_email", args: { to: emails(2) } }, "ask", "asked-by-rule", ["one-approver"]],
    ["101 recipients", { agent: "support", tool: "send_email", args: { to: emails(101) } }, "ask", "asked-by-rule", ["two-approvers"]],
    ["10,001 recipients", { agent: "support", tool: "send_email", args: { to: emails(10001) } }, "deny", "denied-by-rule", ["deny-huge"]],
    // a rule that cannot be evaluated denies, it is not skipped
    ["a rule reading a missing field", { agent: "support", tool: "send_email", args: { to: ["a@example.com"], cc: [] } }, "deny", "rule-error", ["cc-breaks"]],
    // defaults by environment, and irreversible tools
    ["a low-risk write in production", { agent: "support", tool: "update_note", args: { order_id: "1" } }, "allow", "allowed-by-default", []],
    ["a low-risk write in development", { agent: "support", tool: "update_note", args: {}, environment: "development" }, "dry-run", "dry-run-by-default", []],
    ["an irreversible high-risk write", { agent: "support", tool: "delete_account", args: { id: "1" } }, "ask", "asked-by-default", []],
    ["an irreversible low-risk write", { agent: "support", tool: "archive", args: { id: "1" } }, "ask", "asked-irreversible", []],
    ["an invalid environment", { agent: "support", tool: "get_order", args: { order_id: "ord_1" }, environment: "prod" as never }, "deny", "action-invalid", []],
    ["an empty tool name", { agent: "support", tool: "", args: {} }, "deny", "action-invalid", []],
  ])("%s", (_name, action, verdict, code, rules) => {
    const decision = evaluatePolicy(POLICY, action);
    expect({ verdict: decision.verdict, code: decision.code, rules: decision.rules }).toEqual({ verdict, code, rules });
    expect(decision.reasons.length).toBeGreaterThan(0);
    expect(decision.policyDigest).toBe(POLICY.digest);
  });

  it("asks for the number of approvers the rule names", () => {
    expect(evaluatePolicy(POLICY, { agent: "support", tool: "send_email", args: { to: emails(150) } }).approvers).toBe(2);
    expect(evaluatePolicy(POLICY, { agent: "support", tool: "send_email", args: { to: emails(3) } }).approvers).toBe(1);
  });

  it("hands executors the normalised path, not the one the agent wrote", () => {
    const decision = evaluatePolicy(POLICY, { agent: "support", tool: "read_file", args: { path: "/srv/data/./x//y/../z" } });
    expect(decision.verdict).toBe("allow");
    expect(decision.args).toEqual({ path: "/srv/data/x/z" });
  });

  it("does not change the caller's arguments", () => {
    const args = { path: "/srv/data/./x" };
    evaluatePolicy(POLICY, { agent: "support", tool: "read_file", args });
    expect(args.path).toBe("/srv/data/./x");
  });

  it("names the argument and suggests the likely one", () => {
    const decision = evaluatePolicy(POLICY, { agent: "support", tool: "get_order", args: { order_idd: "ord_1", order_id: "ord_1" } });
    expect(decision.reasons).toEqual(["args: unexpected argument `order_idd` (did you mean `order_id`?)"]);
  });

  it("suggests the tool the agent probably meant", () => {
    const decision = evaluatePolicy(POLICY, { agent: "support", tool: "get_ordr", args: {} });
    expect(decision.reasons[0]).toContain("did you mean `get_order`?");
  });

  it("uses the only agent when the policy declares one", () => {
    const single = parsePolicy("version: 1\nagents:\n  a: { owner: o, environment: staging }\ntools:\n  t: { risk: read-only }\n");
    expect(evaluatePolicy(single, { tool: "t", args: {} })).toMatchObject({ verdict: "allow", agent: "a", environment: "staging" });
  });

  it("explains which rules were looked at, in order", () => {
    const { trace } = explainPolicy(POLICY, { agent: "support", tool: "send_email", args: { to: emails(2) } });
    expect(trace).toEqual([
      { rule: "deny-huge", result: "not-matched" },
      { rule: "two-approvers", result: "not-matched" },
      { rule: "one-approver", result: "matched" },
    ]);
  });

  it("when an argument is crafted to make a pattern backtrack, the check stays linear", () => {
    const evil = parsePolicy(
      `version: 1\nagents:\n  a: { owner: o, environment: production }\ntools:\n  t:\n    risk: read-only\n    args:\n      type: object\n      properties:\n        s: { type: string, pattern: "^(a+)+$" }\n`,
    );
    const started = performance.now();
    const decision = evaluatePolicy(evil, { tool: "t", args: { s: `${"a".repeat(100_000)}!` } });
    expect(decision.code).toBe("args-invalid");
    expect(performance.now() - started).toBeLessThan(2000);
  });
});

describe("arguments with awkward keys", () => {
  const policy = parsePolicy(`
version: 1
agents:
  a: { owner: o, environment: production }
tools:
  t:
    risk: read-only
    args: { type: object, additionalProperties: { type: string } }
rules:
  - id: ctor
    when: tool == "t" && has(args.constructor) && args.constructor == "x"
    decision: deny
`);

  it.each([
    [{ constructor: "x" }, "deny"],
    [{ constructor: "y" }, "allow"],
    [JSON.parse('{"__proto__": "x"}') as object, "allow"],
    [{ toString: "x", hasOwnProperty: "y" }, "allow"],
  ])("decides %j without tripping over prototype names (%s)", (args, verdict) => {
    expect(evaluatePolicy(policy, { tool: "t", args }).verdict).toBe(verdict);
  });
});

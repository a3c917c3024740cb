/**
 * Gate decision latency: a policy with 100 tools and 50 CEL rules, a mixed stream of calls
 * (allowed, asked, denied by rule, invalid arguments, unlisted tools), p50/p99 in microseconds and
 * decisions per second. Prints one JSON line at the end.
 *
 * Three figures: the pure policy evaluation; Gate.decide with an audit sink that stores nothing
 * (the decision pipeline alone); and Gate.decide with the in-memory recorder (which deep-copies and
 * freezes every event, as a stand-in for a fast store).
 */
import { cpus } from "node:os";
import { stringify } from "yaml";
import type { Action, AuditSink } from "../src/core/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createGate } from "../src/gate/index.js";
import { evaluatePolicy, parsePolicy } from "../src/policy/index.js";

const TOOLS = 100;
const RULES = 50;
const risks = ["read-only", "low-risk-write", "high-risk-write"] as const;

const tools: Record<string, unknown> = {};
for (let i = 0; i < TOOLS; i++) {
  tools[`tool_${i}`] = {
    risk: risks[i % 3],
    ...(i % 10 === 9 ? { irreversible: true } : {}),
    args: {
      type: "object",
      required: ["id", "amount"],
      properties: {
        id: { type: "string", pattern: "^[a-z]{2}_[0-9]{1,12}$" },
        amount: { type: "number", minimum: 0, maximum: 1_000_000 },
        recipients: { type: "array", maxItems: 1000, items: { type: "string", format: "email" } },
        path: { type: "string", pathPrefix: "/srv/data/" },
        mode: { type: "string", enum: ["fast", "safe", "audit"] },
      },
    },
  };
}

const rules: unknown[] = [];
// 40 rules pinned to a tool (the common shape: thresholds on one tool's arguments)...
for (let i = 0; i < 40; i++) {
  const tool = `tool_${(i * 7) % TOOLS}`;
  const shapes = [
    { when: `tool == "${tool}" && args.amount > ${1000 * (i + 1)}`, decision: "ask", approvers: 1 + (i % 2) },
    { when: `tool == "${tool}" && has(args.recipients) && size(args.recipients) > 10`, decision: "ask" },
    { when: `tool == "${tool}" && has(args.mode) && args.mode == "audit"`, decision: "deny" },
    { when: `tool == "${tool}" && args.id.startsWith("zz_")`, decision: "deny" },
  ];
  rules.push({ id: `pinned-${i}`, ...shapes[i % shapes.length] });
}
// ...and 10 that apply to every tool (environment, principal, risk).
for (let i = 0; i < 10; i++) {
  const shapes = [
    { when: `principal == "suspended-user-${i}"`, decision: "deny" },
    { when: `risk == "high-risk-write" && environment == "production" && principal.startsWith("contractor-${i}")`, decision: "ask", approvers: 2 },
    { when: `environment == "staging" && risk != "read-only" && run.startsWith("replay-${i}")`, decision: "dry-run" },
  ];
  rules.push({ id: `global-${i}`, ...shapes[i % shapes.length] });
}
if (rules.length !== RULES) throw new Error(`built ${rules.length} rules, wanted ${RULES}`);

const policy = parsePolicy(
  stringify({
    version: 1,
    agents: { bench: { owner: "bench@example.com", environment: "production" } },
    tools,
    rules,
    defaults: { "read-only": "allow", "low-risk-write": "allow", "high-risk-write": "ask" },
  }),
  "bench-policy.yaml",
);

function makeActions(count: number): Action[] {
  const actions: Action[] = [];
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < count; i++) {
    const kind = random();
    const tool = `tool_${Math.floor(random() * TOOLS)}`;
    const base = { id: `ab_${Math.floor(random() * 1e9)}`, amount: Math.floor(random() * 50_000) };
    let args: Record<string, unknown> = base;
    if (kind < 0.15) args = { ...base, recipients: Array.from({ length: 1 + Math.floor(random() * 20) }, (_, j) => `u${j}@example.com`) };
    else if (kind < 0.25) args = { ...base, path: random() < 0.5 ? "/srv/data/reports/q3.csv" : "/srv/data/../../etc/passwd" };
    else if (kind < 0.3) args = { ...base, mode: "audit" };
    else if (kind < 0.35) args = { id: "not valid", amount: -1 };
    const unlisted = kind > 0.97;
    actions.push({ agent: "bench", tool: unlisted ? `unlisted_${i}` : tool, args, principal: random() < 0.1 ? "contractor-3" : "alice", run: "run-1" });
  }
  return actions;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function measure(name: string, iterations: number, decide: (action: Action) => unknown) {
  const actions = makeActions(10_000);
  for (let i = 0; i < 20_000; i++) await decide(actions[i % actions.length]!);
  const samples = new Float64Array(iterations);
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    await decide(actions[i % actions.length]!);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  const totalSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  samples.sort();
  const result = {
    p50_us: Number(percentile(samples, 0.5).toFixed(2)),
    p99_us: Number(percentile(samples, 0.99).toFixed(2)),
    decisions_per_second: Math.round(iterations / totalSeconds),
  };
  console.error(`${name}: p50 ${result.p50_us} µs, p99 ${result.p99_us} µs, ${result.decisions_per_second}/s`);
  return result;
}

const nullSink: AuditSink = { append: () => Promise.resolve() };
const counts = makeActions(10_000).reduce<Record<string, number>>((acc, a) => {
  const v = evaluatePolicy(policy, a).verdict;
  acc[v] = (acc[v] ?? 0) + 1;
  return acc;
}, {});
const rulesPerTool = [...policy.rulesByTool.values()].map((r) => r.length);

const gateWithNullAudit = createGate({ policy, audit: nullSink });
const gateWithMemoryAudit = createGate({ policy, audit: createMemoryAuditLog() });

const evaluate = await measure("evaluatePolicy", 200_000, (a) => evaluatePolicy(policy, a));
const gateNull = await measure("gate.decide (null audit sink)", 200_000, (a) => gateWithNullAudit.decide(a));
const gateMemory = await measure("gate.decide (in-memory audit)", 100_000, (a) => gateWithMemoryAudit.decide(a));

console.log(
  JSON.stringify({
    bench: "gate",
    tools: policy.tools.size,
    rules: policy.rules.length,
    rules_per_tool_max: Math.max(...rulesPerTool),
    verdict_mix: counts,
    evaluate,
    gate_decide_null_audit: gateNull,
    gate_decide_memory_audit: gateMemory,
    target: { p50_us: 10, p99_us: 100 },
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version },
  }),
);

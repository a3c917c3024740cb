/**
 * Approvals benchmark: Gate.decide latency through the approvals check on the SQLite store —
 * opening a request (ask), the grant path (allow by grant), answering — plus the same on
 * PostgreSQL when it is reachable at 127.0.0.1:5432. Prints one JSON line at the end.
 */
import { mkdtempSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createApprovals, createApproverDirectory } from "../src/approvals/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createGate } from "../src/gate/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { openPostgresApprovalStore, openSqliteApprovalStore, type ApprovalStore } from "../src/store/index.js";

const policy = parsePolicy(`
version: 1
agents: { bot: { owner: o, environment: production } }
tools:
  refund: { risk: high-risk-write, args: { type: object, properties: { order: { type: string }, amount: { type: number } } } }
approvers: { alice: { roles: [approver] } }
`);
const N = 300;

function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(3));
  return { p50: at(0.5), p99: at(0.99) };
}

async function measure(store: ApprovalStore) {
  const approvals = createApprovals({ store, audit: createMemoryAuditLog(), approvers: createApproverDirectory(policy.file.approvers ?? {}) });
  const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [approvals.check] });
  const ask: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    const { decision } = await gate.decide({ agent: "bot", tool: "refund", args: { order: `ord_${i}`, amount: i } });
    ask.push(performance.now() - t);
    ids.push(decision.approval?.id ?? "");
  }
  const answer: number[] = [];
  for (const [i, id] of ids.entries()) {
    const t = performance.now();
    await approvals.answer(id, { approver: "alice", verdict: "approve", ...(i === 0 ? { grant: { ttlMs: 3_600_000, args: { type: "object" } } } : {}) });
    answer.push(performance.now() - t);
  }
  const approved: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await gate.decide({ agent: "bot", tool: "refund", args: { order: `ord_${i}`, amount: i } });
    approved.push(performance.now() - t);
  }
  const grant: number[] = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await gate.decide({ agent: "bot", tool: "refund", args: { order: `new_${i}`, amount: i } });
    grant.push(performance.now() - t);
  }
  await store.close();
  return { askMs: percentiles(ask), answerMs: percentiles(answer), allowByApprovalMs: percentiles(approved), allowByGrantMs: percentiles(grant) };
}

const sqlite = await measure(openSqliteApprovalStore(join(mkdtempSync(join(tmpdir(), "gatehouse-bench-")), "approvals.db")));
let postgres: Awaited<ReturnType<typeof measure>> | string;
const database = `gatehouse_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: "postgres://postgres@127.0.0.1:5432/postgres" });
try {
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  postgres = await measure(await openPostgresApprovalStore({ connectionString: `postgres://postgres@127.0.0.1:5432/${database}` }));
  await admin.query(`DROP DATABASE "${database}" WITH (FORCE)`);
} catch (error) {
  postgres = `skipped: ${error instanceof Error ? error.message : String(error)}`;
} finally {
  await admin.end().catch(() => undefined);
}
console.log(JSON.stringify({ bench: "approvals", calls: N, sqlite, postgres, cpus: cpus().length, node: process.version }));

// Benchmark of the durable audit log: durable appends per second with group commit, and the time
// to verify a log of 1,000,000 records. Prints its figures as one JSON line at the end.
//
//   npm run bench:audit            (or: npx tsx bench/audit.ts [records])
import { mkdtempSync, rmSync, statSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { AuditEvent } from "../src/core/index.js";
import { exportAuditLog, generateSigningKey, openAuditLog, proveInclusion, verifyAuditLog } from "../src/audit/index.js";
import { openSqliteAuditStore, type AuditStore } from "../src/store/index.js";

const VERIFY_RECORDS = Number(process.argv[2] ?? 1_000_000);
const APPEND_RECORDS = 200_000;
const CONCURRENCY = 1024;
const SEQUENTIAL_RECORDS = 1_000;
const SHARED_RECORDS = 100_000;

function event(i: number): AuditEvent {
  const action = `act-${i}`;
  if (i % 2 === 1) {
    return {
      type: "outcome",
      time: new Date(1_769_860_800_000 + i).toISOString(),
      action,
      agent: "support-bot",
      run: `run-${i >> 4}`,
      principal: "alice@example.com",
      environment: "production",
      tool: "get_order",
      outcome: { status: "ok", result: { order_id: `ord_${i}`, status: "shipped", items: [{ sku: "A-1", qty: 2 }], total: 42.5 }, durationMs: 14 },
    };
  }
  return {
    type: "decision",
    time: new Date(1_769_860_800_000 + i).toISOString(),
    action,
    agent: "support-bot",
    run: `run-${i >> 4}`,
    principal: "alice@example.com",
    environment: "production",
    tool: "get_order",
    args: { order_id: `ord_${i}` },
    decision: { verdict: "allow", code: "allowed-by-rule", rules: ["orders-read"], reasons: ["reading one order is allowed"], risk: "read-only" },
    model: { name: "claude-sonnet-4", version: "2025-05-14" },
    cost: { inputTokens: 1834, outputTokens: 95 },
  };
}

/** Counts group-commit transactions on the real SQLite store. */
function counted(file: string, batches: number[]): AuditStore {
  const store = openSqliteAuditStore(file);
  return {
    location: store.location,
    origin: () => store.origin(),
    setOrigin: (o) => store.setOrigin(o),
    nextSeq: () => store.nextSeq(),
    appendRecords: (r) => store.appendRecords(r),
    appendCheckpoint: (c) => store.appendCheckpoint(c),
    appendLocked: (known, work) =>
      store.appendLocked(known, (changes) => {
        const out = work(changes);
        if (out.records?.length) batches.push(out.records.length);
        return out;
      }),
    readRecords: (a, b, p) => store.readRecords(a, b, p),
    readRecordBytes: (a, b, p) => store.readRecordBytes(a, b, p),
    readLeafHashes: (a, b, p) => store.readLeafHashes(a, b, p),
    readCheckpoints: () => store.readCheckpoints(),
    close: () => store.close(),
  };
}

async function appendConcurrently(log: { append(e: AuditEvent): Promise<void> }, total: number, concurrency: number, latencies?: Float64Array): Promise<number> {
  let next = 0;
  const start = performance.now();
  async function client(): Promise<void> {
    while (next < total) {
      const i = next++;
      const t0 = performance.now();
      await log.append(event(i));
      if (latencies) latencies[i] = performance.now() - t0;
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client));
  return (performance.now() - start) / 1000;
}

/** CPU time (user + system, all threads of this process) since `start`, in seconds. */
function cpuSeconds(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

function percentile(values: Float64Array, p: number): number {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

const round = (n: number, digits = 1): number => Number(n.toFixed(digits));
const dir = mkdtempSync(join(os.tmpdir(), "gatehouse-bench-audit-"));
const key = generateSigningKey("bench.example/gatehouse/audit");
try {
  // 1. One client at a time: every append waits for its own fsync (no batching possible).
  const seqDb = join(dir, "sequential.db");
  const seqLog = await openAuditLog({ path: seqDb, signingKey: key });
  const seqSeconds = await appendConcurrently(seqLog, SEQUENTIAL_RECORDS, 1);
  await seqLog.close();
  console.error(`sequential: ${round(SEQUENTIAL_RECORDS / seqSeconds)} appends/s`);

  // 2. Many concurrent callers (as many gate calls in flight): group commit, synchronous=FULL.
  const batches: number[] = [];
  const db = join(dir, "append.db");
  const log = await openAuditLog({ store: counted(db, batches), signingKey: key });
  const latencies = new Float64Array(APPEND_RECORDS);
  const appendCpu = process.cpuUsage();
  const appendSeconds = await appendConcurrently(log, APPEND_RECORDS, CONCURRENCY, latencies);
  const appendCpuSeconds = cpuSeconds(appendCpu);
  await log.close();
  const appendsPerSec = APPEND_RECORDS / appendSeconds;
  console.error(`group commit: ${round(appendsPerSec)} durable appends/s in ${batches.length} transactions`);

  // 3. Two writers on one database (as `gatehouse serve` and `gatehouse mcp` share audit.db),
  // each with half the callers: every group commit takes the write lock and catches up.
  const sharedDb = join(dir, "shared.db");
  const writers = [await openAuditLog({ path: sharedDb, signingKey: key }), await openAuditLog({ path: sharedDb, signingKey: key })];
  const sharedSeconds = Math.max(...(await Promise.all(writers.map((w) => appendConcurrently(w, SHARED_RECORDS / 2, CONCURRENCY / 2)))));
  for (const w of writers) await w.close();
  const sharedReport = await verifyAuditLog({ path: sharedDb, verifierKey: key.verifier });
  if (!sharedReport.ok || sharedReport.size !== SHARED_RECORDS) throw new Error(`verify of the shared log failed: ${JSON.stringify(sharedReport.problems.slice(0, 3))}`);
  console.error(`two writers: ${round(SHARED_RECORDS / sharedSeconds)} durable appends/s`);

  // 4. A log of VERIFY_RECORDS records, built through the same durable path, then verified.
  const bigDb = join(dir, "big.db");
  const bigLog = await openAuditLog({ path: bigDb, signingKey: key, checkpointEvery: { records: 100_000 } });
  const buildSeconds = await appendConcurrently(bigLog, VERIFY_RECORDS, CONCURRENCY);
  await bigLog.close();
  console.error(`built ${VERIFY_RECORDS} records in ${round(buildSeconds)} s (${round(VERIFY_RECORDS / buildSeconds)} appends/s)`);
  const t0 = performance.now();
  const verifyCpu = process.cpuUsage();
  const report = await verifyAuditLog({ path: bigDb, verifierKey: key.verifier });
  const verifySeconds = (performance.now() - t0) / 1000;
  const verifyCpuSeconds = cpuSeconds(verifyCpu);
  if (!report.ok || report.size !== VERIFY_RECORDS) throw new Error(`verify failed: ${JSON.stringify(report.problems.slice(0, 3))}`);
  console.error(`verified ${report.size} records in ${round(verifySeconds, 2)} s`);

  // 5. An inclusion proof and a streaming export of the whole log (constant memory).
  const store = openSqliteAuditStore(bigDb, { readonly: true });
  const p0 = performance.now();
  await proveInclusion(store, Math.floor(VERIFY_RECORDS / 3));
  const proofMs = performance.now() - p0;
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  let bytes = 0;
  const e0 = performance.now();
  let lines = 0;
  for await (const line of exportAuditLog(store, "ocsf")) {
    bytes += line.length;
    if (++lines % 50_000 === 0) rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }
  const exportSeconds = (performance.now() - e0) / 1000;
  await store.close();

  console.log(
    JSON.stringify({
      bench: "audit",
      durableAppendsPerSec: round(appendsPerSec),
      appendTargetPerSec: 20_000,
      appendRecords: APPEND_RECORDS,
      concurrency: CONCURRENCY,
      transactions: batches.length,
      meanBatch: round(APPEND_RECORDS / batches.length),
      appendCpuMicrosPerRecord: round((appendCpuSeconds * 1e6) / APPEND_RECORDS),
      appendLatencyMs: { p50: round(percentile(latencies, 50), 2), p99: round(percentile(latencies, 99), 2) },
      sequentialAppendsPerSec: round(SEQUENTIAL_RECORDS / seqSeconds),
      twoWritersAppendsPerSec: round(SHARED_RECORDS / sharedSeconds),
      synchronous: "FULL",
      verifyRecords: report.size,
      verifySeconds: round(verifySeconds, 2),
      verifyCpuSeconds: round(verifyCpuSeconds, 2),
      verifyTargetSeconds: 10,
      buildAppendsPerSec: round(VERIFY_RECORDS / buildSeconds),
      dbBytes: statSync(bigDb).size,
      inclusionProofMs: round(proofMs),
      exportOcsfSeconds: round(exportSeconds, 2),
      exportOcsfMB: round(bytes / 1e6),
      exportRssGrowthMB: round((rssPeak - rssBefore) / 1e6),
      loadAverage: os.loadavg().map((l) => round(l, 2)),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? "unknown", node: process.version, platform: `${os.platform()} ${os.release()}`, tmpdir: os.tmpdir() },
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

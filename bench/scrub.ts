/**
 * Scrubber benchmark (issue 5): throughput on 1 MB tool outputs with 1,000 known secrets, with
 * and without the pattern rules, streamed and in one piece, and the latency added to a 4 KB
 * output. Prints one JSON line. Run: `npm run bench:scrub`.
 */
import { randomBytes, randomInt } from "node:crypto";
import os from "node:os";
import { createScrubber } from "../src/secrets/index.js";

const KNOWN = 1000;
const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const rnd = (n: number): string => Array.from({ length: n }, () => ALNUM[randomInt(ALNUM.length)]).join("");

const secrets = Array.from({ length: KNOWN }, (_v, i) => ({ label: `known_${i}`, value: `${rnd(4)}_${rnd(20 + (i % 44))}` }));

/** A realistic tool output: log lines, JSON records, a stack trace, a base64 blob, prose. */
function output(bytes: number, leaks: number): string {
  const parts: string[] = [];
  let size = 0;
  const words = "the order was shipped to customer after payment cleared and the invoice was sent by email".split(" ");
  while (size < bytes) {
    const kind = randomInt(5);
    let piece: string;
    if (kind === 0) piece = `2026-11-22T08:00:${String(randomInt(60)).padStart(2, "0")}Z INFO request id=${randomBytes(8).toString("hex")} path=/v1/orders/${randomInt(1e6)} status=200 took=${randomInt(500)}ms\n`;
    else if (kind === 1) piece = `${JSON.stringify({ id: randomBytes(6).toString("hex"), customer: `cus_${rnd(10)}`, amount: randomInt(100000), note: words.slice(randomInt(8)).join(" ") })}\n`;
    else if (kind === 2) piece = `Error: upstream timeout\n    at fetchOrder (/srv/app/orders.js:${randomInt(300)}:11)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)\n`;
    else if (kind === 3) piece = `${randomBytes(570).toString("base64")}\n`;
    else piece = `${Array.from({ length: 14 }, () => words[randomInt(words.length)]).join(" ")}.\n`;
    parts.push(piece);
    size += piece.length;
  }
  for (let i = 0; i < leaks; i++) {
    const at = randomInt(parts.length);
    parts[at] = `${parts[at]}token=${secrets[randomInt(KNOWN)]!.value}\n`;
  }
  // Flatten into one sequential string, as a tool's output read from a pipe would be.
  return Buffer.from(parts.join(""), "utf8").toString("utf8");
}

const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** CPU time of this process in ms (user + system): unlike wall time, not inflated by other processes on a busy machine. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** MB/s by wall time (median run) and by CPU time (all runs). */
function throughput(run: (text: string) => unknown, inputs: string[], rounds: number): { wall: number; cpu: number } {
  const times: number[] = [];
  let bytes = 0;
  const c0 = cpuMs();
  for (let r = 0; r < rounds; r++) {
    for (const text of inputs) {
      const t0 = performance.now();
      run(text);
      times.push(performance.now() - t0);
      bytes += text.length;
    }
  }
  const cpu = cpuMs() - c0;
  const mb = inputs[0]!.length / 1e6;
  return { wall: round(mb / (median(times) / 1000)), cpu: round(bytes / 1e6 / (cpu / 1000)) };
}

let t0 = performance.now();
const knownOnly = createScrubber({ rules: [], secrets });
const buildMs = performance.now() - t0;
const full = createScrubber({ secrets });

const MB = 1 << 20;
const clean = Array.from({ length: 4 }, () => output(MB, 0));
const leaky = Array.from({ length: 4 }, () => output(MB, 10));
for (const text of [...clean, ...leaky]) {
  knownOnly.scrubText(text);
  full.scrubText(text);
}

const found = leaky.map((t) => knownOnly.scrub(t).findings.length);
if (found.some((n) => n < 10)) throw new Error(`benchmark input lost a planted secret: ${found.join(",")}`);

const rounds = 8;
const knownClean = throughput((t) => knownOnly.scrubText(t), clean, rounds);
const knownLeaky = throughput((t) => knownOnly.scrubText(t), leaky, rounds);
const fullClean = throughput((t) => full.scrubText(t), clean, rounds);
const fullLeaky = throughput((t) => full.scrubText(t), leaky, rounds);
const streamed = throughput(
  (t) => {
    const s = full.createChunkScrubber();
    for (let i = 0; i < t.length; i += 65536) s.write(t.slice(i, i + 65536));
    return s.end();
  },
  leaky,
  3,
);

const small = Array.from({ length: 200 }, () => output(4096, 0).slice(0, 4096));
for (const text of small) full.scrubText(text);
const latencies: number[] = [];
const knownLatencies: number[] = [];
let fullCpu = 0;
let knownCpu = 0;
for (let r = 0; r < 5; r++) {
  let c = cpuMs();
  for (const text of small) {
    t0 = performance.now();
    full.scrubText(text);
    latencies.push(performance.now() - t0);
  }
  fullCpu += cpuMs() - c;
  c = cpuMs();
  for (const text of small) {
    t0 = performance.now();
    knownOnly.scrubText(text);
    knownLatencies.push(performance.now() - t0);
  }
  knownCpu += cpuMs() - c;
}

console.log(
  JSON.stringify({
    bench: "scrub",
    knownSecrets: KNOWN,
    buildMs: round(buildMs),
    mbPerSecWall: {
      knownOnlyClean: knownClean.wall,
      knownOnlyWith10Leaks: knownLeaky.wall,
      knownAndRulesClean: fullClean.wall,
      knownAndRulesWith10Leaks: fullLeaky.wall,
      knownAndRulesStreamed64k: streamed.wall,
    },
    mbPerCpuSec: {
      knownOnlyClean: knownClean.cpu,
      knownOnlyWith10Leaks: knownLeaky.cpu,
      knownAndRulesClean: fullClean.cpu,
      knownAndRulesWith10Leaks: fullLeaky.cpu,
      knownAndRulesStreamed64k: streamed.cpu,
    },
    latency4kbMs: {
      knownAndRulesP50: round(median(latencies), 3),
      knownAndRulesP99: round(percentile(latencies, 99), 3),
      knownOnlyP50: round(median(knownLatencies), 3),
      knownAndRulesCpuMean: round(fullCpu / latencies.length, 3),
      knownOnlyCpuMean: round(knownCpu / knownLatencies.length, 3),
    },
    targets: { knownMbPerSec: 200, latency4kbMs: 0.2 },
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? "unknown", node: process.version, loadavg1m: round(os.loadavg()[0] ?? 0, 2) },
  }),
);

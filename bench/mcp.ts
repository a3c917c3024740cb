/**
 * MCP gateway benchmark (issue 6): a simple tool call (`echo` of server-everything, spawned over
 * stdio from node_modules) made directly and through the gateway, in the same run. Three paths:
 *
 * - direct: the SDK's Client → server-everything;
 * - gateway: the SDK's Client → the gateway in this process (policy check, pin/allow-list lookup,
 *   output scrubber, in-memory audit) → server-everything: what the gateway itself adds;
 * - cli: the SDK's Client → `gatehouse mcp` as a child process over stdio (durable SQLite audit
 *   log, fsync per commit) → server-everything: what a user's MCP client sees end to end.
 *
 * For each: p50/p99 of sequential calls and calls/s with 32 in flight. Prints one JSON line.
 * Run: `npm run bench:mcp`.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { createFilePinStore, startMcpGateway } from "../src/integrations/mcp/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { createScrubber } from "../src/secrets/index.js";

const root = join(import.meta.dirname, "..");
const EVERYTHING = join(root, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const SEQUENTIAL = Number(process.env.BENCH_CALLS ?? 2000);
const IN_FLIGHT = 32;
const CONCURRENT_CALLS = Number(process.env.BENCH_CONCURRENT_CALLS ?? 4000);
const WARMUP = 200;
const POLICY = `version: 1
agents: { bench: { owner: bench@example.com, environment: development } }
tools:
  echo:
    risk: read-only
    args: { type: object, required: [message], properties: { message: { type: string, maxLength: 1000 } } }
`;

const call = (client: Client, i: number) =>
  client.request({ method: "tools/call", params: { name: "echo", arguments: { message: `hello ${i}` } } }, CallToolResultSchema);

async function measure(client: Client): Promise<{ p50: number; p99: number; callsPerSecond: number; cpuUsPerCall: number }> {
  for (let i = 0; i < WARMUP; i++) await call(client, i);
  const times: number[] = [];
  for (let i = 0; i < SEQUENTIAL; i++) {
    const started = performance.now();
    const result = await call(client, i);
    times.push(performance.now() - started);
    if (result.isError) throw new Error(`call failed: ${JSON.stringify(result)}`);
  }
  times.sort((a, b) => a - b);
  let next = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < CONCURRENT_CALLS) await call(client, next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return {
    p50: quantile(times, 0.5),
    p99: quantile(times, 0.99),
    callsPerSecond: Math.round(CONCURRENT_CALLS / seconds),
    // CPU this process (the client, plus the in-process gateway) spent per call with 32 in flight.
    cpuUsPerCall: Math.round((used.user + used.system) / CONCURRENT_CALLS),
  };
}

function quantile(sorted: number[], q: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 1000) / 1000;
}

async function direct() {
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [EVERYTHING, "stdio"], stderr: "ignore" }));
  try {
    return await measure(client);
  } finally {
    await client.close();
  }
}

async function inProcess() {
  const scrubber = createScrubber();
  const gateway = await startMcpGateway({
    policy: parsePolicy(POLICY),
    audit: createMemoryAuditLog(),
    servers: [{ name: "everything", command: process.execPath, args: [EVERYTHING, "stdio"] }],
    pins: createFilePinStore(join(mkdtempSync(join(os.tmpdir(), "gh-bench-mcp-")), "pins.json")),
    scrub: (value) => scrubber.scrubValue(value),
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await gateway.createServer().connect(serverSide);
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(clientSide);
  try {
    return await measure(client);
  } finally {
    await client.close();
    await gateway.close();
  }
}

async function cli() {
  const dir = mkdtempSync(join(os.tmpdir(), "gh-bench-mcp-cli-"));
  const policy = join(dir, "gatehouse.yaml");
  writeFileSync(policy, POLICY);
  const saved = process.env.XDG_DATA_HOME;
  process.env.XDG_DATA_HOME = dir;
  await runCli(["audit", "keygen", "--name", "bench/mcp"], { out: () => undefined, err: (t) => process.stderr.write(t) });
  if (saved === undefined) delete process.env.XDG_DATA_HOME;
  else process.env.XDG_DATA_HOME = saved;
  const client = new Client({ name: "bench", version: "1" });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: ["--import", "tsx", join(root, "src/cli/main.ts"), "mcp", "--policy", policy, "--data-dir", join(dir, "gatehouse"), "--", process.execPath, EVERYTHING, "stdio"],
      stderr: "ignore",
      cwd: root,
    }),
  );
  try {
    return await measure(client);
  } finally {
    await client.close();
  }
}

const loadBefore = os.loadavg()[0]!;
// BENCH_ONLY=gateway runs one path (for profiling: `node --cpu-prof --import tsx bench/mcp.ts`).
const only = process.env.BENCH_ONLY;
const skipped = { p50: NaN, p99: NaN, callsPerSecond: NaN, cpuUsPerCall: NaN };
const directResult = only === undefined || only === "direct" ? await direct() : skipped;
const gatewayResult = only === undefined || only === "gateway" ? await inProcess() : skipped;
const cliResult = only === undefined || only === "cli" ? await cli() : skipped;
const ratio = (a: number, b: number) => Math.round((a / b) * 1000) / 1000;
console.log(
  JSON.stringify({
    bench: "mcp",
    tool: "server-everything echo over stdio",
    sequentialCalls: SEQUENTIAL,
    inFlight: IN_FLIGHT,
    concurrentCalls: CONCURRENT_CALLS,
    direct: { p50Ms: directResult.p50, p99Ms: directResult.p99, callsPerSecond: directResult.callsPerSecond, clientCpuUsPerCall: directResult.cpuUsPerCall },
    gateway: {
      p50Ms: gatewayResult.p50,
      p99Ms: gatewayResult.p99,
      callsPerSecond: gatewayResult.callsPerSecond,
      clientCpuUsPerCall: gatewayResult.cpuUsPerCall,
      addedP50Ms: Math.round((gatewayResult.p50 - directResult.p50) * 1000) / 1000,
      p50Ratio: ratio(gatewayResult.p50, directResult.p50),
      throughputRatio: ratio(gatewayResult.callsPerSecond, directResult.callsPerSecond),
    },
    cli: {
      p50Ms: cliResult.p50,
      p99Ms: cliResult.p99,
      callsPerSecond: cliResult.callsPerSecond,
      addedP50Ms: Math.round((cliResult.p50 - directResult.p50) * 1000) / 1000,
      p50Ratio: ratio(cliResult.p50, directResult.p50),
      throughputRatio: ratio(cliResult.callsPerSecond, directResult.callsPerSecond),
    },
    targets: { addedP50Ms: 1, minThroughputRatio: 0.9 },
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      // Other work on the machine skews every figure: the 1-minute load average before and after.
      loadAverage: [Math.round(loadBefore * 100) / 100, Math.round(os.loadavg()[0]! * 100) / 100],
    },
  }),
);

/**
 * Egress proxy benchmark: throughput of a 1 GB upload over loopback, direct and through a
 * CONNECT tunnel of the proxy (same run, same sink), and the latency a tunnel adds to
 * connection setup. The proxy and the sink each run in their own process, as they would in
 * production; the client runs here. Prints one JSON line.
 *
 *   npm run bench:egress            (GB=1 by default; EGRESS_BENCH_GB=0.25 for a quick look)
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";

const ROLE = process.argv[2];
const TOTAL = Math.round(Number(process.env.EGRESS_BENCH_GB ?? "1") * 1024 ** 3);
const CHUNK = 256 * 1024;
const ROUNDS = 3;
const CONNECTS = 300;

async function runSink(): Promise<void> {
  // Counts what it receives and answers with the count when the client half-closes.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let n = 0;
    socket.on("data", (c: Buffer) => (n += c.length));
    socket.on("end", () => socket.end(`${n}\n`));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  process.send?.({ port: (server.address() as net.AddressInfo).port });
}

async function runProxy(): Promise<void> {
  const { createEgressProxy, egressPolicySchema } = await import("../src/egress/index.js");
  const { createMemoryAuditLog } = await import("../src/audit/index.js");
  const sinkPort = Number(process.env.SINK_PORT);
  const policy = egressPolicySchema.parse({
    profiles: { bench: { allow: [{ host: "127.0.0.1", ports: [sinkPort], unsafeAllowAddresses: ["127.0.0.1"] }] } },
    agents: { bench: "bench" },
  });
  const proxy = await createEgressProxy({ policy, tokenKey: Buffer.from(process.env.BENCH_KEY ?? "", "hex"), audit: createMemoryAuditLog() });
  const bound = await proxy.listen({ host: "127.0.0.1", port: 0 });
  process.send?.({ port: bound.port });
}

function child(role: string, env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  // EGRESS_BENCH_PROXY_FLAGS: extra node/V8 flags for the proxy process only (e.g.
  // "--initial-old-space-size=64", see docs/egress.md); empty by default, so the bench measures
  // the proxy as `gatehouse egress` runs it.
  const extra = role === "proxy" ? (process.env.EGRESS_BENCH_PROXY_FLAGS ?? "").split(" ").filter(Boolean) : [];
  const proc = fork(fileURLToPath(import.meta.url), [role], { execArgv: ["--import", "tsx", ...extra], env: { ...process.env, ...env } });
  return new Promise((resolve, reject) => {
    proc.once("message", (m: { port: number }) => resolve({ proc, port: m.port }));
    proc.once("exit", (code) => reject(new Error(`${role} exited with ${code}`)));
  });
}

/** Opens a connection to the sink, directly or through a CONNECT tunnel. */
function open(sinkPort: number, proxy?: { port: number; auth: string }): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port: proxy ? proxy.port : sinkPort, host: "127.0.0.1", allowHalfOpen: true, noDelay: true });
    socket.once("error", reject);
    socket.once("connect", () => {
      if (!proxy) {
        resolve(socket);
        return;
      }
      socket.write(`CONNECT 127.0.0.1:${sinkPort} HTTP/1.1\r\nHost: 127.0.0.1:${sinkPort}\r\nProxy-Authorization: ${proxy.auth}\r\n\r\n`);
      let head = "";
      const onData = (c: Buffer): void => {
        head += c.toString("latin1");
        if (!head.includes("\r\n\r\n")) return;
        socket.off("data", onData);
        if (!head.startsWith("HTTP/1.1 200")) reject(new Error(head.split("\r\n")[0]));
        else resolve(socket);
      };
      socket.on("data", onData);
    });
  });
}

/** Sends TOTAL bytes and waits for the sink's count; returns seconds. */
async function transfer(sinkPort: number, proxy?: { port: number; auth: string }): Promise<number> {
  const socket = await open(sinkPort, proxy);
  const chunk = randomBytes(CHUNK);
  const started = process.hrtime.bigint();
  const done = new Promise<string>((resolve) => {
    let reply = "";
    socket.on("data", (c: Buffer) => (reply += c.toString()));
    socket.on("end", () => resolve(reply.trim()));
  });
  let sent = 0;
  while (sent < TOTAL) {
    const n = Math.min(CHUNK, TOTAL - sent);
    sent += n;
    if (!socket.write(n === CHUNK ? chunk : chunk.subarray(0, n))) await new Promise((r) => socket.once("drain", r));
  }
  socket.end();
  const count = await done;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  socket.destroy();
  if (Number(count) !== TOTAL) throw new Error(`sink received ${count} bytes, expected ${TOTAL}`);
  return seconds;
}

async function connectTimes(sinkPort: number, proxy?: { port: number; auth: string }): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < CONNECTS; i++) {
    const t = process.hrtime.bigint();
    const socket = await open(sinkPort, proxy);
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    socket.destroy();
  }
  return times;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const { mintRunToken } = await import("../src/egress/index.js");
  const key = randomBytes(32);
  const sink = await child("sink", {});
  const proxyChild = await child("proxy", { SINK_PORT: String(sink.port), BENCH_KEY: key.toString("hex") });
  const token = mintRunToken(key, { agent: "bench", run: "bench-run", expiresAt: Date.now() + 3_600_000 });
  const proxy = { port: proxyChild.port, auth: `Basic ${Buffer.from(`bench:${token}`).toString("base64")}` };
  try {
    // Warm up both paths (JIT, socket buffers), then alternate rounds so drift hits both.
    await connectTimes(sink.port);
    await connectTimes(sink.port, proxy);
    const direct: number[] = [];
    const tunnel: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      direct.push(await transfer(sink.port));
      tunnel.push(await transfer(sink.port, proxy));
    }
    const directConnect = await connectTimes(sink.port);
    const tunnelConnect = await connectTimes(sink.port, proxy);
    const mbps = (s: number): number => Math.round((TOTAL / s / 1e6) * 10) / 10;
    const directMBps = mbps(quantile(direct, 0.5));
    const tunnelMBps = mbps(quantile(tunnel, 0.5));
    const ratio = Math.round((tunnelMBps / directMBps) * 1000) / 1000;
    const addedP50 = Math.round((quantile(tunnelConnect, 0.5) - quantile(directConnect, 0.5)) * 1000) / 1000;
    const addedP99 = Math.round((quantile(tunnelConnect, 0.99) - quantile(directConnect, 0.99)) * 1000) / 1000;
    console.log(
      JSON.stringify({
        bench: "egress",
        bytes: TOTAL,
        rounds: ROUNDS,
        direct_MBps: directMBps,
        tunnel_MBps: tunnelMBps,
        throughput_ratio: ratio,
        direct_seconds: direct.map((s) => Math.round(s * 1000) / 1000),
        tunnel_seconds: tunnel.map((s) => Math.round(s * 1000) / 1000),
        connect_direct_p50_ms: Math.round(quantile(directConnect, 0.5) * 1000) / 1000,
        connect_tunnel_p50_ms: Math.round(quantile(tunnelConnect, 0.5) * 1000) / 1000,
        added_connect_p50_ms: addedP50,
        added_connect_p99_ms: addedP99,
        targets: { throughput_ratio_min: 0.8, added_connect_ms_max: 1 },
        met: { throughput: ratio >= 0.8, connect: addedP50 <= 1 },
        ...(process.env.EGRESS_BENCH_PROXY_FLAGS ? { proxy_flags: process.env.EGRESS_BENCH_PROXY_FLAGS } : {}),
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model ?? "unknown", node: process.version, platform: `${os.platform()} ${os.release()}` },
      }),
    );
  } finally {
    sink.proc.kill();
    proxyChild.proc.kill();
  }
}

if (ROLE === "sink") await runSink();
else if (ROLE === "proxy") await runProxy();
else await main();

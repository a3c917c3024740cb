import { spawn, type ChildProcess } from "node:child_process";
import { readlinkSync } from "node:fs";
import { connect, createServer } from "node:net";
import { SandboxError } from "./errors.js";

/** Where the forwarder listens inside every sandbox's own network namespace. */
export const PROXY_PORT = 3128;

/**
 * The forwarder, run by `node -e` inside the sandbox's network namespace but outside its mount
 * and PID namespaces (joined with `nsenter --user --net`): it accepts TCP on 127.0.0.1:3128
 * there and pipes each connection to the egress proxy's Unix socket on the host. Since the
 * namespace has no other interface, this is the only route out, whatever the program does with
 * HTTP_PROXY. It also answers DNS on 127.0.0.1:53 with REFUSED and prints each name asked, so
 * direct lookups are reported instead of timing out silently.
 */
const FORWARDER = String.raw`
const net = require("node:net"), dgram = require("node:dgram");
const [port, sock] = process.argv.slice(1);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const srv = net.createServer((c) => {
  const u = net.connect(sock);
  const end = () => { c.destroy(); u.destroy(); };
  c.on("error", end); u.on("error", end); c.on("close", end); u.on("close", end);
  c.pipe(u); u.pipe(c);
});
srv.on("error", (e) => { out({ error: String(e) }); process.exit(1); });
srv.listen(Number(port), "127.0.0.1", () => {
  const d = dgram.createSocket("udp4");
  d.on("error", (e) => { out({ error: String(e) }); process.exit(1); });
  d.on("message", (m, rinfo) => {
    if (m.length < 12) return;
    let i = 12; const labels = [];
    while (i < m.length && m[i] !== 0 && labels.length < 128) { const n = m[i]; labels.push(m.subarray(i + 1, i + 1 + n).toString("latin1")); i += n + 1; }
    const end = Math.min(i + 5, m.length);
    const r = Buffer.from(m.subarray(0, end));
    r[2] = 0x80 | (m[2] & 0x01); r[3] = 0x05; r.writeUInt16BE(1, 4); r.writeUInt16BE(0, 6); r.writeUInt16BE(0, 8); r.writeUInt16BE(0, 10);
    d.send(r, rinfo.port, rinfo.address);
    out({ dns: labels.join(".").slice(0, 253) });
  });
  d.bind(53, "127.0.0.1", () => out({ ready: true }));
});
process.stdin.on("end", () => process.exit(0)); process.stdin.resume();
`;

/** A running forwarder. */
export interface Forwarder {
  /** Names the sandbox tried to resolve directly. */
  readonly dnsQueries: readonly string[];
  stop(): void;
}

/**
 * Starts the forwarder in the network namespace of `pid` (the sandbox's init, still blocked)
 * and resolves once it listens. Rejects with `proxy-unavailable` if it cannot.
 */
export function startForwarder(nsenter: string, pid: number, socketPath: string, env: Readonly<Record<string, string>>): Promise<Forwarder> {
  // As root, bwrap creates the sandbox's user namespace late, after the network namespace, so the
  // network namespace belongs to the initial user namespace: join only it (we hold the capability
  // there). As a normal user both are created together and the user namespace must be joined to
  // act in the network namespace.
  let theirs: string;
  try {
    theirs = readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    theirs = "";
  }
  // Never start the forwarder in our own namespace: it would listen on the host's loopback.
  if (theirs === "" || theirs === readlinkSync("/proc/self/ns/net")) {
    return Promise.reject(new SandboxError("proxy-unavailable", "the sandbox has no network namespace of its own yet", "run `gatehouse doctor`"));
  }
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const namespaces = root ? ["--net"] : ["--user", "--net", "--preserve-credentials"];
  const child: ChildProcess = spawn(
    nsenter,
    ["--target", String(pid), ...namespaces, "--", process.execPath, "-e", FORWARDER, String(PROXY_PORT), socketPath],
    { stdio: ["pipe", "pipe", "pipe"], env: { PATH: env.PATH ?? "/usr/bin:/bin" } },
  );
  const dnsQueries: string[] = [];
  let stderr = "";
  child.stderr?.on("data", (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-2000);
  });
  const stop = (): void => {
    child.stdin?.end();
    child.kill("SIGKILL");
  };
  return new Promise((resolve, reject) => {
    let buffer = "";
    let ready = false;
    const fail = (why: string): void => {
      if (ready) return;
      stop();
      reject(new SandboxError("proxy-unavailable", `the egress forwarder did not start: ${why}`, "check `gatehouse doctor` and that the egress proxy socket exists"));
    };
    const timer = setTimeout(() => fail("timed out"), 10_000);
    child.on("error", (e) => fail(String(e)));
    child.on("exit", (code) => {
      clearTimeout(timer);
      fail(`exited with ${String(code)} ${stderr.trim()}`);
    });
    child.stdout?.on("data", (b: Buffer) => {
      buffer += b.toString();
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let msg: { ready?: boolean; dns?: string; error?: string };
        try {
          msg = JSON.parse(line) as typeof msg;
        } catch {
          continue;
        }
        if (msg.ready && !ready) {
          ready = true;
          clearTimeout(timer);
          resolve({ dnsQueries, stop });
        } else if (msg.dns !== undefined && dnsQueries.length < 100) {
          dnsQueries.push(msg.dns);
        } else if (msg.error) {
          fail(msg.error);
        }
      }
    });
  });
}

/**
 * For an egress proxy on host loopback TCP (which the sandbox's namespace cannot see): listens on
 * a Unix socket in the run's private directory and pipes each connection to `address`. The
 * forwarder inside the namespace connects to that socket.
 */
export function bridgeToTcp(socketPath: string, address: string): Promise<{ close(): void }> {
  const colon = address.lastIndexOf(":");
  const host = address.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(address.slice(colon + 1));
  const server = createServer((c) => {
    const u = connect(port, host);
    const end = (): void => {
      c.destroy();
      u.destroy();
    };
    c.on("error", end);
    u.on("error", end);
    c.on("close", end);
    u.on("close", end);
    c.pipe(u);
    u.pipe(c);
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e) => reject(new SandboxError("proxy-unavailable", `cannot open the egress bridge: ${e.message}`)));
    server.listen(socketPath, () => resolve({ close: () => void server.close() }));
  });
}

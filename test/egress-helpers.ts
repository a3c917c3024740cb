import dgram from "node:dgram";
import http from "node:http";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { createMemoryAuditLog, type MemoryAuditLog } from "../src/audit/index.js";
import { createEgressProxy, egressPolicySchema, mintRunToken, resolverForServers, type EgressProxy, type EgressProxyOptions } from "../src/egress/index.js";

/** Answers for the test DNS server: a fixed list, or a function called once per query. */
export type DnsAnswers = Record<string, readonly string[] | ((type: "A" | "AAAA") => readonly string[])>;

/** A tiny authoritative DNS server on 127.0.0.1 (A and AAAA only), written on node:dgram. */
export async function startDnsServer(answers: DnsAnswers): Promise<{ port: number; queries: string[]; close(): Promise<void> }> {
  const socket = dgram.createSocket("udp4");
  const queries: string[] = [];
  socket.on("message", (msg, rinfo) => {
    try {
      let offset = 12;
      const labels: string[] = [];
      while (offset < msg.length) {
        const len = msg[offset] ?? 0;
        if (len === 0) break;
        labels.push(msg.subarray(offset + 1, offset + 1 + len).toString("ascii"));
        offset += len + 1;
      }
      offset += 1;
      const qtype = msg.readUInt16BE(offset);
      const question = msg.subarray(12, offset + 4);
      const name = labels.join(".").toLowerCase();
      const type = qtype === 28 ? "AAAA" : qtype === 1 ? "A" : undefined;
      queries.push(`${name}/${type ?? qtype}`);
      const entry = answers[name];
      const list = entry === undefined || type === undefined ? undefined : typeof entry === "function" ? entry(type) : entry;
      const matching = (list ?? []).filter((a) => (type === "A" ? !a.includes(":") : a.includes(":")));
      const header = Buffer.alloc(12);
      header.writeUInt16BE(msg.readUInt16BE(0), 0);
      header.writeUInt16BE(entry === undefined ? 0x8183 : 0x8580, 2);
      header.writeUInt16BE(1, 4);
      header.writeUInt16BE(matching.length, 6);
      const records = matching.map((address) => {
        const rdata = type === "A" ? Buffer.from(address.split(".").map(Number)) : ipv6Bytes(address);
        const rr = Buffer.alloc(12);
        rr.writeUInt16BE(0xc00c, 0);
        rr.writeUInt16BE(qtype, 2);
        rr.writeUInt16BE(1, 4);
        rr.writeUInt32BE(0, 6);
        rr.writeUInt16BE(rdata.length, 10);
        return Buffer.concat([rr, rdata]);
      });
      socket.send(Buffer.concat([header, question, ...records]), rinfo.port, rinfo.address);
    } catch {
      // A malformed query gets no answer, like a real server under garbage.
    }
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return { port: socket.address().port, queries, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

function ipv6Bytes(address: string): Buffer {
  const [head = "", tail = ""] = address.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = address.includes("::") ? [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** An HTTP server on 127.0.0.1 that answers with a body describing the request it saw. */
export async function startUpstream(handler?: http.RequestListener): Promise<{ server: http.Server; port: number; seen: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    if (handler) {
      handler(req, res);
      return;
    }
    let size = 0;
    req.on("data", (c: Buffer) => (size += c.length));
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, received: size }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A running proxy for a test, with its audit log, token key and a minted token per agent. */
export interface TestProxy {
  proxy: EgressProxy;
  port: number;
  audit: MemoryAuditLog;
  key: Buffer;
  token(agent: string, run?: string): string;
  url(agent: string, run?: string): string;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 with the given `egress:` section (raw, validated here). */
export async function startProxy(
  egress: unknown,
  extra: Partial<Omit<EgressProxyOptions, "policy" | "tokenKey">> & { dnsPort?: number } = {},
): Promise<TestProxy> {
  const audit = createMemoryAuditLog();
  const key = randomBytes(32);
  const policy = egressPolicySchema.parse(egress);
  const { dnsPort, audit: sink, ...rest } = extra;
  const proxy = await createEgressProxy({
    policy,
    tokenKey: key,
    audit: sink ?? audit,
    ...(dnsPort ? { resolver: resolverForServers([`127.0.0.1:${dnsPort}`]) } : {}),
    ...rest,
  });
  const bound = await proxy.listen({ host: "127.0.0.1", port: 0 });
  const token = (agent: string, run = "run-1"): string => mintRunToken(key, { agent, run, expiresAt: Date.now() + 3_600_000 });
  return {
    proxy,
    port: bound.port,
    audit,
    key,
    token,
    url: (agent, run) => `http://${agent}:${token(agent, run)}@127.0.0.1:${bound.port}`,
    close: () => proxy.close(),
  };
}

import net, { type AddressInfo } from "node:net";
import type { SecureContext } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalCa } from "../src/egress/index.js";
import { startDnsServer, startProxy, type TestProxy } from "./egress-helpers.js";

/** Sends a raw CONNECT and returns the status line of the proxy's answer (then closes). */
function connectStatus(port: number, target: string, auth: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let head = "";
    socket.on("error", reject);
    socket.on("data", (c: Buffer) => {
      head += c.toString("latin1");
      const end = head.indexOf("\r\n");
      if (end === -1) return;
      socket.destroy();
      resolve(head.slice(0, end));
    });
    socket.on("close", () => resolve(head.split("\r\n")[0] ?? ""));
    socket.write(`CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\nProxy-Authorization: ${auth}\r\n\r\n`);
  });
}

describe("egress proxy tunnel slots are released on every error path", () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  let sink: net.Server;
  let sinkPort: number;
  let p: TestProxy;
  const errors: unknown[] = [];

  beforeAll(async () => {
    dns = await startDnsServer({ "api.test": ["127.0.0.1"], "open.test": ["127.0.0.1"] });
    sink = net.createServer((s) => {
      s.on("error", () => undefined);
      s.end();
    });
    await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve));
    sinkPort = (sink.address() as AddressInfo).port;
    // A local CA whose context is not a SecureContext: `new tls.TLSSocket` throws inside
    // interceptor.intercept, after the decision took the agent's only tunnel slot.
    const brokenCa: LocalCa = {
      certPem: "",
      hosts: ["api.test"],
      secureContextFor: () => Promise.resolve({} as SecureContext),
    };
    p = await startProxy(
      {
        profiles: {
          dev: {
            allow: [
              { host: "api.test", ports: [sinkPort], unsafeAllowAddresses: ["127.0.0.1"] },
              { host: "open.test", ports: [sinkPort], unsafeAllowAddresses: ["127.0.0.1"] },
            ],
            credentials: [{ host: "api.test", ports: [sinkPort], header: "Authorization", secret: "k" }],
          },
        },
        agents: { coder: "dev" },
        budgets: { perAgent: { concurrentTunnels: 1 } },
      },
      { dnsPort: dns.port, localCa: brokenCa, credentialFor: () => Promise.resolve("value-1234567890"), onError: (e) => errors.push(e) },
    );
  });

  afterAll(async () => {
    await p.close();
    await dns.close();
    await new Promise((resolve) => sink.close(resolve));
  });

  it("gives the slot back when TLS interception throws, so the next tunnel is not refused with 429", async () => {
    const auth = `Basic ${Buffer.from(`coder:${p.token("coder", "slots")}`).toString("base64")}`;
    for (let i = 0; i < 3; i++) {
      // The 200 goes out before the TLS setup throws; what matters is that the slot comes back.
      await connectStatus(p.port, `api.test:${sinkPort}`, auth);
    }
    expect(await connectStatus(p.port, `open.test:${sinkPort}`, auth)).toBe("HTTP/1.1 200 Connection Established");
    await new Promise((r) => setTimeout(r, 50));
    expect(errors.length).toBeGreaterThanOrEqual(3);
    expect(String(errors[0])).toMatch(/SecureContext/);
  });

  it("gives the slot back at once when the client leaves while its certificate is being made", async () => {
    let issue: (() => void) | undefined;
    const slowCa: LocalCa = {
      certPem: "",
      hosts: ["api.test"],
      secureContextFor: () => new Promise<SecureContext>((_resolve, reject) => (issue = () => reject(new Error("late")))),
    };
    const q = await startProxy(
      {
        profiles: {
          dev: {
            allow: [
              { host: "api.test", ports: [sinkPort], unsafeAllowAddresses: ["127.0.0.1"] },
              { host: "open.test", ports: [sinkPort], unsafeAllowAddresses: ["127.0.0.1"] },
            ],
            credentials: [{ host: "api.test", ports: [sinkPort], header: "Authorization", secret: "k" }],
          },
        },
        agents: { coder: "dev" },
        budgets: { perAgent: { concurrentTunnels: 1 } },
        timeouts: { idleMs: 120_000 },
      },
      { dnsPort: dns.port, localCa: slowCa, credentialFor: () => Promise.resolve("value-1234567890") },
    );
    try {
      const auth = `Basic ${Buffer.from(`coder:${q.token("coder", "early")}`).toString("base64")}`;
      const socket = net.connect(q.port, "127.0.0.1");
      socket.on("error", () => undefined);
      socket.write(`CONNECT api.test:${sinkPort} HTTP/1.1\r\nHost: api.test:${sinkPort}\r\nProxy-Authorization: ${auth}\r\n\r\n`);
      for (let i = 0; i < 100 && issue === undefined; i++) await new Promise((r) => setTimeout(r, 10));
      expect(issue).toBeDefined();
      socket.destroy();
      await new Promise((r) => setTimeout(r, 50));
      // The certificate is still being made; the client is gone; its slot must be free already.
      expect(await connectStatus(q.port, `open.test:${sinkPort}`, auth)).toBe("HTTP/1.1 200 Connection Established");
      issue!();
    } finally {
      await q.close();
    }
  });

  it("gives the slot back when the upstream refuses the connection", async () => {
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const q = await startProxy(
      {
        profiles: { dev: { allow: [{ host: "127.0.0.1", ports: [deadPort, sinkPort], unsafeAllowAddresses: ["127.0.0.1"] }] } },
        agents: { coder: "dev" },
        budgets: { perRun: { concurrentTunnels: 1 } },
      },
    );
    try {
      const auth = `Basic ${Buffer.from(`coder:${q.token("coder", "dead")}`).toString("base64")}`;
      for (let i = 0; i < 3; i++) expect(await connectStatus(q.port, `127.0.0.1:${deadPort}`, auth)).toMatch(/^HTTP\/1\.1 502/);
      expect(await connectStatus(q.port, `127.0.0.1:${sinkPort}`, auth)).toBe("HTTP/1.1 200 Connection Established");
    } finally {
      await q.close();
    }
  });
});

describe("tunnel relay without per-chunk counting (no byte budget set)", () => {
  it("keeps a tunnel whose data flows only downwards alive past idleMs, and records exact bytes at close", async () => {
    // Sends 10 bytes every 100 ms for 800 ms; the client sends 5 bytes at the start only.
    const trickle = net.createServer((s) => {
      s.on("error", () => undefined);
      s.resume();
      let n = 0;
      const timer = setInterval(() => {
        s.write("0123456789");
        if (++n === 8) {
          clearInterval(timer);
          s.end();
        }
      }, 100);
      s.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => trickle.listen(0, "127.0.0.1", resolve));
    const port = (trickle.address() as AddressInfo).port;
    const p = await startProxy({
      profiles: { p: { allow: [{ host: "127.0.0.1", ports: [port], unsafeAllowAddresses: ["127.0.0.1"] }] } },
      agents: { a: "p" },
      timeouts: { connectMs: 1_000, idleMs: 300, totalMs: 10_000, headersMs: 1_000 },
    });
    try {
      const received = await new Promise<string>((resolve) => {
        let text = "";
        const s = net.connect(p.port, "127.0.0.1");
        s.on("data", (c: Buffer) => (text += c.toString("latin1")));
        s.on("error", () => undefined);
        s.on("close", () => resolve(text));
        s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nProxy-Authorization: Basic ${Buffer.from(`a:${p.token("a", "trickle")}`).toString("base64")}\r\n\r\nhello`);
      });
      expect(received.split("\r\n\r\n")[1]).toBe("0123456789".repeat(8));
      await new Promise((r) => setTimeout(r, 50));
      const outcome = p.audit.events().find((e) => e.type === "outcome" && e.run === "trickle");
      expect(outcome?.outcome?.status).toBe("ok");
      expect(outcome?.outcome?.result).toMatchObject({ bytesUp: 5, bytesDown: 80 });
    } finally {
      await p.close();
      await new Promise((r) => trickle.close(r));
    }
  });
});

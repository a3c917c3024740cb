import "reflect-metadata";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { id_ce_nameConstraints } from "@peculiar/asn1-x509";
import { X509Certificate } from "@peculiar/x509";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalCa, SCRUBBED } from "../src/egress/index.js";
import { startDnsServer, startProxy, type TestProxy } from "./egress-helpers.js";

const run = promisify(execFile);
const SECRET = "sk-test-5f8a2c91d4e7b3a6";

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("curl", ["--silent", "--show-error", "--max-time", "10", ...args], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("credential injection with TLS interception, end to end", () => {
  let dir: string;
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  let upstream: https.Server;
  let port: number;
  let upstreamCaFile: string;
  let proxyCaFile: string;
  let p: TestProxy;
  const seenAuth: (string | undefined)[] = [];
  let credentialCalls = 0;
  let failCredential = false;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-intercept-"));
    dns = await startDnsServer({ "api.test": ["127.0.0.1"], "plain.test": ["127.0.0.1"] });
    // The "real" upstream has its own CA, unrelated to the proxy's.
    const upstreamCa = await createLocalCa({ hosts: ["api.test", "plain.test"], now: Date.now });
    upstreamCaFile = join(dir, "upstream-ca.pem");
    await writeFile(upstreamCaFile, upstreamCa.certPem);
    const contexts = { "api.test": await upstreamCa.secureContextFor("api.test"), "plain.test": await upstreamCa.secureContextFor("plain.test") };
    upstream = https.createServer({ SNICallback: (name, cb) => cb(null, contexts[name as keyof typeof contexts]) }, (req, res) => {
      seenAuth.push(req.headers.authorization);
      const echoed = String(req.headers.authorization ?? "none");
      if (req.url === "/gzip") {
        res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/plain" });
        res.end(zlib.gzipSync(`you sent ${echoed}`));
        return;
      }
      if (req.url === "/te-gzip") {
        // A transfer-coding Node does not undo: the body would pass the scrubber compressed.
        res.writeHead(200, { "transfer-encoding": "gzip, chunked", "content-type": "text/plain" });
        res.end(zlib.gzipSync(`you sent ${echoed}`));
        return;
      }
      if (req.url === "/split") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.write(`start ${echoed.slice(0, 12)}`);
        setTimeout(() => res.end(`${echoed.slice(12)} end`), 30);
        return;
      }
      res.writeHead(200, { "content-type": "text/plain", "x-echo-auth": echoed });
      res.end(`host=${req.headers.host} auth=${echoed} ae=${String(req.headers["accept-encoding"])}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    port = (upstream.address() as AddressInfo).port;
    p = await startProxy(
      {
        profiles: {
          dev: {
            allow: [
              { host: "api.test", ports: [port], unsafeAllowAddresses: ["127.0.0.1"] },
              { host: "plain.test", ports: [port], unsafeAllowAddresses: ["127.0.0.1"] },
            ],
            credentials: [{ host: "api.test", ports: [port], header: "Authorization", prefix: "Bearer ", secret: "api-key" }],
          },
        },
        agents: { coder: "dev" },
      },
      {
        dnsPort: dns.port,
        upstreamCa: upstreamCa.certPem,
        credentialFor: (host, context) => {
          credentialCalls += 1;
          if (failCredential) return Promise.reject(new Error("vault sealed"));
          expect(host).toBe("api.test");
          expect(context).toMatchObject({ secret: "api-key", agent: "coder" });
          return Promise.resolve(SECRET);
        },
      },
    );
    proxyCaFile = join(dir, "proxy-ca.pem");
    await writeFile(proxyCaFile, p.proxy.caCertPem ?? "");
  });

  afterAll(async () => {
    await p.close();
    await dns.close();
    upstream.closeAllConnections();
    await new Promise((resolve) => upstream.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it("adds the credential on the way out; the client never sees it, even when the upstream echoes it", async () => {
    const r = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, "--include", "-H", "Authorization: Bearer agent-made-up", `https://api.test:${port}/echo`]);
    expect(r.stderr).toBe("");
    expect(seenAuth.at(-1)).toBe(`Bearer ${SECRET}`);
    expect(r.stdout).not.toContain(SECRET);
    expect(r.stdout).toContain(`auth=Bearer ${SCRUBBED}`);
    expect(r.stdout).toMatch(new RegExp(`x-echo-auth: Bearer ${SCRUBBED.replace(/[[\]]/g, "\\$&")}`, "i"));
    expect(r.stdout).toContain("ae=identity");
  });

  it("scrubs a gzip-encoded echo and one split across chunks", async () => {
    const gz = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, "--compressed", `https://api.test:${port}/gzip`]);
    expect(gz.stdout).toBe(`you sent Bearer ${SCRUBBED}`);
    const split = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, `https://api.test:${port}/split`]);
    expect(split.stdout).toBe(`start Bearer ${SCRUBBED} end`);
    expect(split.stdout).not.toContain(SECRET.slice(0, 12));
  });

  it("refuses a response under a transfer-coding other than chunked, which the scrubber could not read", async () => {
    const r = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, "--include", `https://api.test:${port}/te-gzip`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 502/m);
    expect(r.stdout).toContain("transfer-coding");
    expect(r.stdout).not.toContain(SECRET);
    expect(Buffer.from(r.stdout, "latin1").includes(zlib.gzipSync(`you sent Bearer ${SECRET}`).subarray(10, 30))).toBe(false);
  });

  it("keeps hosts without a credential as opaque tunnels: the client verifies the real certificate", async () => {
    const viaProxyCa = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, `https://plain.test:${port}/x`]);
    expect(viaProxyCa.code).not.toBe(0);
    const real = await curl(["--proxy", p.url("coder"), "--cacert", upstreamCaFile, `https://plain.test:${port}/x`]);
    expect(real.stdout).toMatch(new RegExp(`^host=plain\\.test:${port} auth=none `));
    expect(seenAuth.at(-1)).toBeUndefined();
  });

  it("issues from a CA that is name-constrained to the credential hosts", async () => {
    const ca = new X509Certificate(p.proxy.caCertPem ?? "");
    const ext = ca.getExtension(id_ce_nameConstraints);
    expect(ext?.critical).toBe(true);
    const local = await createLocalCa({ hosts: ["api.test"], now: Date.now });
    await expect(local.secureContextFor("evil.test")).rejects.toMatchObject({ code: "egress-ca-failed" });
  });

  it("refuses with 502 and sends nothing upstream when the credential source fails", async () => {
    failCredential = true;
    const before = seenAuth.length;
    try {
      const r = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, "--include", `https://api.test:${port}/echo`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n\r\nHTTP\/1\.1 502 /);
      expect(r.stdout).toMatch(/egress-credential-unavailable: credential `api-key` for `api\.test` is unavailable: vault sealed/);
      expect(seenAuth.length).toBe(before);
    } finally {
      failCredential = false;
    }
  });

  it("refuses a request inside the tunnel whose Host is another site (421)", async () => {
    const r = await curl(["--proxy", p.url("coder"), "--cacert", proxyCaFile, "--include", "-H", "Host: plain.test", `https://api.test:${port}/echo`]);
    expect(r.stdout).toMatch(/\r\n\r\nHTTP\/1\.1 421 /);
  });

  it("refuses plain http to a credential host, since the key would travel in clear text", async () => {
    const calls = credentialCalls;
    const r = await curl(["--proxy", p.url("coder"), "--include", `http://api.test:${port}/echo`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
    expect(r.stdout).toMatch(/egress-credential-needs-tls/);
    expect(credentialCalls).toBe(calls);
  });

  it("records intercepted requests with the credential's header and secret name, never its value", () => {
    const events = p.audit.events();
    const intercepted = events.filter((e) => e.tool === "egress.intercepted" && e.type === "decision");
    expect(intercepted.length).toBeGreaterThan(0);
    expect(intercepted[0]?.args).toMatchObject({ credential: { header: "authorization", secret: "api-key" } });
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });
});

import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type http from "node:http";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { ProxyAgent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalCa } from "../src/egress/index.js";
import { startDnsServer, startProxy, startUpstream, type TestProxy } from "./egress-helpers.js";

const run = promisify(execFile);
const CLEAN_ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir() };

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run("curl", ["--silent", "--show-error", "--max-time", "10", ...args], { env: CLEAN_ENV });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("egress proxy with real clients", () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let tlsServer: https.Server;
  let tlsPort: number;
  let echo: net.Server;
  let echoPort: number;
  let p: TestProxy;
  let dir: string;
  let caFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-egress-"));
    dns = await startDnsServer({
      "app.test": ["127.0.0.1"],
      "tls.test": ["127.0.0.1"],
      "echo.test": ["127.0.0.1"],
      "metadata.test": ["169.254.169.254"],
      "sneaky.test": ["127.0.0.1"],
    });
    upstream = await startUpstream();
    const testCa = await createLocalCa({ hosts: ["tls.test"], now: Date.now });
    caFile = join(dir, "ca.pem");
    await writeFile(caFile, testCa.certPem);
    const ctx = await testCa.secureContextFor("tls.test");
    tlsServer = https.createServer({ SNICallback: (_name, cb) => cb(null, ctx) }, (req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(`tls hello ${req.url}`);
    });
    await new Promise<void>((resolve) => tlsServer.listen(0, "127.0.0.1", resolve));
    tlsPort = (tlsServer.address() as AddressInfo).port;
    // Echo server that answers only after the client half-closes: proves FIN is forwarded and
    // the other direction keeps flowing.
    echo = net.createServer({ allowHalfOpen: true }, (socket) => {
      const chunks: Buffer[] = [];
      socket.on("data", (c: Buffer) => chunks.push(c));
      socket.on("end", () => socket.end(Buffer.concat([Buffer.from("echo:"), ...chunks])));
      socket.on("error", () => undefined);
    });
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    echoPort = (echo.address() as AddressInfo).port;
    p = await startProxy(
      {
        profiles: {
          dev: {
            allow: [
              { id: "app", host: "app.test", ports: [upstream.port], unsafeAllowAddresses: ["127.0.0.1"] },
              { id: "tls", host: "tls.test", ports: [tlsPort], unsafeAllowAddresses: ["127.0.0.1"] },
              { id: "echo", host: "echo.test", ports: [echoPort], unsafeAllowAddresses: ["127.0.0.1"] },
              { id: "meta", host: "metadata.test", ports: [80] },
              { id: "sneaky", host: "sneaky.test", ports: [upstream.port] },
            ],
          },
          audit: { mode: "report", allow: [] },
        },
        agents: { coder: "dev", rollout: "audit" },
        timeouts: { connectMs: 2_000, idleMs: 5_000, totalMs: 30_000, headersMs: 1_000 },
        maxHeaderBytes: 8_192,
      },
      { dnsPort: dns.port },
    );
  });

  afterAll(async () => {
    await p.close();
    await dns.close();
    await upstream.close();
    tlsServer.closeAllConnections();
    await new Promise((resolve) => tlsServer.close(resolve));
    await new Promise((resolve) => echo.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  describe("curl", () => {
    it("fetches an allowed http URL through the forward proxy", async () => {
      const r = await curl(["--proxy", p.url("coder"), `http://app.test:${upstream.port}/hello?q=1`]);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ method: "GET", url: "/hello?q=1", host: `app.test:${upstream.port}` });
      expect(upstream.seen.at(-1)?.["proxy-authorization"]).toBeUndefined();
    });

    it("fetches an allowed https URL through an opaque CONNECT tunnel, verifying the real certificate", async () => {
      const r = await curl(["--proxy", p.url("coder"), "--cacert", caFile, `https://tls.test:${tlsPort}/secure`]);
      expect(r.stderr).toBe("");
      expect(r.stdout).toBe("tls hello /secure");
    });

    it("is refused with 403, a reason and X-Gatehouse-Error for a host no rule names", async () => {
      const r = await curl(["--proxy", p.url("coder"), "--include", `http://other.test:${upstream.port}/`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
      expect(r.stdout).toMatch(/x-gatehouse-error: egress-not-allowed: `other\.test:\d+` is not allowed: no rule of profile `dev` names this host/i);
    });

    it("is refused for a port the rule does not list, naming the rule", async () => {
      const r = await curl(["--proxy", p.url("coder"), "--include", "http://app.test:1/"]);
      expect(r.stdout).toMatch(/rule `app` names the host but only ports/);
    });

    it("is refused when an allowed name resolves to the metadata address (SSRF)", async () => {
      const r = await curl(["--proxy", p.url("coder"), "--include", "http://metadata.test/latest/meta-data/"]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
      expect(r.stdout).toMatch(/egress-address-forbidden: `metadata\.test:80` is refused: address 169\.254\.169\.254 is in a forbidden class: cloud instance metadata service address/);
    });

    it("is refused when an allowed name resolves to loopback without an unsafe entry", async () => {
      const r = await curl(["--proxy", p.url("coder"), "--include", `http://sneaky.test:${upstream.port}/`]);
      expect(r.stdout).toMatch(/127\.0\.0\.1 is in a forbidden class: loopback address/);
    });

    it("is refused at CONNECT, and curl reports the proxy's 403", async () => {
      const r = await curl(["--proxy", p.url("coder"), "--cacert", caFile, "https://blocked.test:443/"]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/403/);
    });

    it("asks for credentials with 407 when none are given, and refuses a token minted for another agent", async () => {
      const none = await curl(["--proxy", `http://127.0.0.1:${p.port}`, "--include", `http://app.test:${upstream.port}/`]);
      expect(none.stdout).toMatch(/^HTTP\/1\.1 407/);
      expect(none.stdout).toMatch(/proxy-authenticate: Basic realm="gatehouse-egress"/i);
      const stolen = await curl(["--proxy", `http://rollout:${p.token("coder")}@127.0.0.1:${p.port}`, "--include", `http://app.test:${upstream.port}/`]);
      expect(stolen.stdout).toMatch(/egress-auth-invalid: run token does not match this agent/);
    });

    it("refuses IP literals in every spelling unless a rule names the address", async () => {
      for (const host of ["2130706433", "0x7f.1", "0177.0.0.1", "[::ffff:127.0.0.1]", "127.1"]) {
        const r = await curl(["--proxy", p.url("coder"), "--include", "--path-as-is", `http://${host}:${upstream.port}/`]);
        expect(r.stdout, host).toMatch(/^HTTP\/1\.1 403/);
      }
    });
  });

  describe("undici ProxyAgent", () => {
    it("fetches http and https through the proxy and sees refusals as 403", async () => {
      const agent = new ProxyAgent({ uri: p.url("coder"), requestTls: { ca: await (await import("node:fs/promises")).readFile(caFile, "utf8") } });
      try {
        const ok = await undiciFetch(`http://app.test:${upstream.port}/undici`, { dispatcher: agent });
        expect(ok.status).toBe(200);
        expect(await ok.json()).toMatchObject({ url: "/undici" });
        const secure = await undiciFetch(`https://tls.test:${tlsPort}/u`, { dispatcher: agent });
        expect(await secure.text()).toBe("tls hello /u");
        // undici tunnels http:// through CONNECT too: a refusal surfaces as the proxy's status.
        const refused = await undiciFetch("http://metadata.test/", { dispatcher: agent }).catch((e: Error) => e);
        expect(causes(refused)).toMatch(/Proxy response \(403\)/);
        const blocked = await undiciFetch("https://blocked.test/", { dispatcher: agent }).catch((e: Error) => e);
        expect(causes(blocked)).toMatch(/Proxy response \(403\)/);
      } finally {
        await agent.close();
      }
      const forward = new ProxyAgent({ uri: p.url("coder"), proxyTunnel: false });
      try {
        const ok = await undiciFetch(`http://app.test:${upstream.port}/forward`, { dispatcher: forward });
        expect(await ok.json()).toMatchObject({ url: "/forward" });
        const refused = await undiciFetch("http://metadata.test/", { dispatcher: forward });
        expect(refused.status).toBe(403);
        expect(refused.headers.get("x-gatehouse-error")).toMatch(/^egress-address-forbidden/);
      } finally {
        await forward.close();
      }
    });
  });

  describe("git ls-remote over HTTP (git http-backend)", () => {
    it("lists refs of an allowed repository and fails on a refused one", async () => {
      const root = join(dir, "git");
      await run("git", ["init", "--quiet", "--bare", join(root, "repo.git")], { env: CLEAN_ENV });
      const work = join(dir, "work");
      await run("git", ["init", "--quiet", work], { env: CLEAN_ENV });
      const gitEnv = { ...CLEAN_ENV, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" };
      await run("git", ["-C", work, "commit", "--quiet", "--allow-empty", "-m", "init"], { env: gitEnv });
      await run("git", ["-C", work, "push", "--quiet", join(root, "repo.git"), "HEAD:refs/heads/main"], { env: gitEnv });
      const gitServer = await startUpstream((req, res) => gitHttpBackend(root, req, res));
      try {
        const gp = await startProxy(
          { profiles: { git: { allow: [{ host: "app.test", ports: [gitServer.port], unsafeAllowAddresses: ["127.0.0.1"] }] } }, agents: { git: "git" } },
          { dnsPort: dns.port },
        );
        try {
          const args = (url: string) => ["-c", `http.proxy=${gp.url("git")}`, "ls-remote", url];
          const ok = await run("git", args(`http://app.test:${gitServer.port}/repo.git`), { env: gitEnv });
          expect(ok.stdout).toMatch(/^[0-9a-f]{40}\trefs\/heads\/main$/m);
          const refused = await run("git", args(`http://git.elsewhere.test:${gitServer.port}/repo.git`), { env: gitEnv }).catch((e: { stderr: string }) => e);
          expect("stderr" in refused ? refused.stderr : "").toMatch(/403/);
        } finally {
          await gp.close();
        }
      } finally {
        await gitServer.close();
      }
    });
  });

  describe("bad input and hard cases", () => {
    async function raw(payload: string | Buffer, waitMs = 3_000): Promise<string> {
      return new Promise((resolve) => {
        const socket = net.connect(p.port, "127.0.0.1");
        let out = "";
        socket.on("data", (c: Buffer) => (out += c.toString("latin1")));
        socket.on("close", () => resolve(out));
        socket.on("error", () => resolve(out));
        socket.write(payload);
        setTimeout(() => socket.destroy(), waitMs).unref();
      });
    }

    it.each([
      ["garbage bytes", "\x00\x01\x02\x03 not http\r\n\r\n"],
      ["a bad request line", "GET\r\n\r\n"],
      ["both Content-Length and Transfer-Encoding", "POST http://app.test/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"],
      ["a header with a bare CR", "GET http://app.test/ HTTP/1.1\r\nX: a\rb\r\n\r\n"],
    ])("answers %s with 400 and stays up", async (_name, payload) => {
      const out = await raw(payload);
      expect(out).toMatch(/^HTTP\/1\.1 400 /);
      expect(out).toMatch(/x-gatehouse-error: egress-bad-request/);
    });

    it.each([
      ["an origin-form request", `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /absolute `http:\/\/` URL/],
      ["an https:// absolute URL", `GET https://app.test/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /CONNECT tunnel/],
      ["user information in the URL", `GET http://app.test@evil.test/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /user information/],
      ["a CONNECT without a port", `CONNECT app.test HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /names no port|egress-auth-required/],
      ["an unbracketed IPv6 CONNECT target", `CONNECT ::1:443 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, /egress-auth-required|brackets/],
      ["a Proxy-Authorization that is not Basic", `GET http://app.test/ HTTP/1.1\r\nProxy-Authorization: Bearer x\r\nConnection: close\r\n\r\n`, /must use Basic/],
      ["a WebSocket upgrade over plain HTTP", `GET http://app.test/ HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, /upgrades are not proxied/],
    ])("refuses %s with a reason", async (_name, payload, reason) => {
      const out = await raw(payload, 1_500);
      expect(out).toMatch(/^HTTP\/1\.1 4\d\d /);
      expect(out).toMatch(reason);
    });

    it("survives 300 random and mutated requests at once and still serves the next client", async () => {
      const valid = `CONNECT echo.test:${echoPort} HTTP/1.1\r\nProxy-Authorization: Basic ${Buffer.from(`coder:${p.token("coder")}`).toString("base64")}\r\n\r\n`;
      const samples = fc.sample(
        fc.oneof(
          fc.uint8Array({ minLength: 1, maxLength: 2_000 }).map((b) => Buffer.from(b)),
          fc.tuple(fc.nat({ max: valid.length - 1 }), fc.uint8Array({ minLength: 1, maxLength: 40 })).map(([at, junk]) =>
            Buffer.concat([Buffer.from(valid.slice(0, at)), Buffer.from(junk), Buffer.from(valid.slice(at))]),
          ),
        ),
        { numRuns: 300, seed: 9 },
      );
      await Promise.all(samples.map((payload) => raw(payload, 400)));
      const r = await curl(["--proxy", p.url("coder"), `http://app.test:${upstream.port}/after-fuzz`]);
      expect(JSON.parse(r.stdout)).toMatchObject({ url: "/after-fuzz" });
    });

    it("answers oversized headers with 431", async () => {
      const out = await raw(`GET http://app.test/ HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
      expect(out).toMatch(/^HTTP\/1\.1 431 /);
      expect(out).toMatch(/egress-headers-too-large/);
    });

    it("drops a slow client that does not finish its headers in time", async () => {
      const started = Date.now();
      const out = await new Promise<string>((resolve) => {
        const socket = net.connect(p.port, "127.0.0.1");
        let got = "";
        socket.on("data", (c: Buffer) => (got += c.toString("latin1")));
        socket.on("close", () => resolve(got));
        socket.write("GET http://app.test/ HTTP/1.1\r\nHost: a\r\n");
        const drip = setInterval(() => socket.write("X-Slow: 1\r\n"), 200);
        socket.on("close", () => clearInterval(drip));
        setTimeout(() => socket.destroy(), 8_000).unref();
      });
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(out === "" || /^HTTP\/1\.1 (400|408)/.test(out)).toBe(true);
    });

    it("forwards a half-close through a tunnel and keeps the other direction open", async () => {
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect({ port: p.port, host: "127.0.0.1", allowHalfOpen: true });
        let stage = 0;
        let got = "";
        socket.on("data", (c: Buffer) => {
          got += c.toString("latin1");
          if (stage === 0 && got.includes("\r\n\r\n")) {
            expect(got).toMatch(/^HTTP\/1\.1 200/);
            stage = 1;
            got = "";
            socket.end("half-closed payload");
          }
        });
        socket.on("end", () => resolve(got));
        socket.on("error", reject);
        const auth = Buffer.from(`coder:${p.token("coder")}`).toString("base64");
        socket.write(`CONNECT echo.test:${echoPort} HTTP/1.1\r\nHost: echo.test:${echoPort}\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
      });
      expect(reply).toBe("echo:half-closed payload");
    });

    it("holds 1,000 tunnels open at once and serves every one", async () => {
      const auth = Buffer.from(`coder:${p.token("coder", "many")}`).toString("base64");
      const openOne = (i: number): Promise<string> =>
        new Promise((resolve, reject) => {
          const socket = net.connect({ port: p.port, host: "127.0.0.1", allowHalfOpen: true });
          let got = "";
          let open = false;
          socket.on("data", (c: Buffer) => {
            got += c.toString("latin1");
            if (!open && got.includes("\r\n\r\n")) {
              open = true;
              got = "";
              socket.end(`n${i}`);
            }
          });
          socket.on("end", () => {
            socket.destroy();
            resolve(got);
          });
          socket.on("error", reject);
          socket.write(`CONNECT echo.test:${echoPort} HTTP/1.1\r\nProxy-Authorization: Basic ${auth}\r\n\r\n`);
        });
      const replies = await Promise.all(Array.from({ length: 1000 }, (_, i) => openOne(i)));
      expect(replies.every((r, i) => r === `echo:n${i}`)).toBe(true);
    }, 60_000);

    it("in report mode the SSRF guard still enforces, and the audit log says which check refused", async () => {
      const before = p.audit.events().length;
      const refused = await curl(["--proxy", p.url("rollout"), "--include", `http://app.test:${upstream.port}/report`]);
      expect(refused.stdout).toMatch(/^HTTP\/1\.1 403/);
      expect(refused.stdout).toMatch(/127\.0\.0\.1 is in a forbidden class: loopback address/);
      const decisions = p.audit.events().slice(before).filter((e) => e.type === "decision");
      expect(decisions[0]?.decision).toMatchObject({ verdict: "deny", rules: ["egress.deny.loopback"] });
    });

    it("records agent, run, host, port, resolved address, decision, bytes each way and duration", async () => {
      const before = p.audit.events().length;
      await curl(["--proxy", p.url("coder", "audit-run"), "--data-binary", "0123456789", `http://app.test:${upstream.port}/audit`]);
      const events = p.audit.events().slice(before);
      const decision = events.find((e) => e.type === "decision");
      const outcome = events.find((e) => e.type === "outcome");
      expect(decision).toMatchObject({ agent: "coder", run: "audit-run", tool: "egress.http", args: { host: "app.test", port: upstream.port, method: "POST", path: "/audit" } });
      expect(decision?.args).toMatchObject({ addresses: [{ address: "127.0.0.1", class: "unsafe_allowed" }] });
      await new Promise((r) => setTimeout(r, 50));
      const out = p.audit.events().slice(before).find((e) => e.type === "outcome") ?? outcome;
      expect(out?.action).toBe(decision?.action);
      expect(out?.outcome).toMatchObject({ status: "ok", result: { address: "127.0.0.1", bytesUp: 10, httpStatus: 200 } });
      expect((out?.outcome?.result as { bytesDown: number }).bytesDown).toBeGreaterThan(10);
      expect(typeof out?.outcome?.durationMs).toBe("number");
    });
  });
});

/** Every message along an error's `cause` chain. */
function causes(error: unknown): string {
  const out: string[] = [];
  let e: unknown = error;
  for (let i = 0; i < 8 && e instanceof Error; i++) {
    out.push(e.message);
    e = (e as Error & { cause?: unknown }).cause;
  }
  return out.join(" <- ");
}

/** Runs git http-backend as a CGI for one request (smart HTTP protocol). */
function gitHttpBackend(root: string, req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? "/", "http://x");
  const child = execFile("git", ["http-backend"], {
    env: {
      ...CLEAN_ENV,
      GIT_PROJECT_ROOT: root,
      GIT_HTTP_EXPORT_ALL: "1",
      PATH_INFO: url.pathname,
      QUERY_STRING: url.search.slice(1),
      REQUEST_METHOD: req.method ?? "GET",
      CONTENT_TYPE: req.headers["content-type"] ?? "",
      GIT_PROTOCOL: String(req.headers["git-protocol"] ?? ""),
      REMOTE_ADDR: "127.0.0.1",
    },
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  req.pipe(child.stdin!);
  const chunks: Buffer[] = [];
  child.stdout!.on("data", (c: Buffer) => chunks.push(c));
  child.on("close", () => {
    const out = Buffer.concat(chunks);
    const split = out.indexOf("\r\n\r\n") !== -1 ? out.indexOf("\r\n\r\n") : out.indexOf("\n\n");
    const sepLen = out.indexOf("\r\n\r\n") !== -1 ? 4 : 2;
    const head = out.subarray(0, split).toString("latin1");
    let status = 200;
    const headers: Record<string, string> = {};
    for (const line of head.split(/\r?\n/)) {
      const i = line.indexOf(":");
      if (i === -1) continue;
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      if (name.toLowerCase() === "status") status = Number(value.split(" ")[0]);
      else headers[name] = value;
    }
    res.writeHead(status, headers);
    res.end(out.subarray(split + sepLen));
  });
}

describe("egress proxy limits, timeouts and a failing audit log", () => {
  it("cuts a tunnel whose run spends its byte budget, then answers 429 up front", async () => {
    const dns = await startDnsServer({ "big.test": ["127.0.0.1"] });
    const big = await startUpstream((_req, res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.alloc(40_000, 1));
    });
    const p = await startProxy(
      { profiles: { p: { allow: [{ host: "big.test", ports: [big.port], unsafeAllowAddresses: ["127.0.0.1"] }] } }, agents: { a: "p" }, budgets: { perRun: { bytesDown: 50_000 } } },
      { dnsPort: dns.port },
    );
    try {
      const first = await curl(["--proxy", p.url("a", "bytes"), "--proxytunnel", "-o", "/dev/null", "-w", "%{size_download}", `http://big.test:${big.port}/`]);
      expect(first.stdout).toBe("40000");
      const cutShort = await curl(["--proxy", p.url("a", "bytes"), "--proxytunnel", "-o", "/dev/null", "-w", "%{size_download}", `http://big.test:${big.port}/`]);
      expect(cutShort.code).not.toBe(0);
      expect(Number(cutShort.stdout)).toBeLessThan(40_000);
      const second = await curl(["--proxy", p.url("a", "bytes"), "--include", `http://big.test:${big.port}/`]);
      expect(second.stdout).toMatch(/^HTTP\/1\.1 429/);
      expect(second.stdout).toMatch(/egress-budget-exceeded: run budget of 50000 bytes received is spent/);
      const other = await curl(["--proxy", p.url("a", "fresh-run"), "-o", "/dev/null", "-w", "%{http_code}", `http://big.test:${big.port}/`]);
      expect(other.stdout).toBe("200");
      await new Promise((r) => setTimeout(r, 50));
      const cut = p.audit.events().find((e) => e.type === "outcome" && e.run === "bytes" && e.outcome?.status === "error");
      expect(cut?.outcome?.error).toMatch(/^egress-budget-exceeded/);
    } finally {
      await p.close();
      await big.close();
      await dns.close();
    }
  });

  it("answers requests over the per-agent rate with 429 and Retry-After", async () => {
    const up = await startUpstream();
    const p = await startProxy({
      profiles: { p: { allow: [{ host: "127.0.0.1", ports: [up.port], unsafeAllowAddresses: ["127.0.0.1"] }] } },
      agents: { a: "p" },
      budgets: { perAgent: { requestsPerMinute: 3 } },
    });
    try {
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) {
        codes.push((await curl(["--proxy", p.url("a", `r${i}`), "-o", "/dev/null", "-w", "%{http_code}", `http://127.0.0.1:${up.port}/`])).stdout);
      }
      expect(codes).toEqual(["200", "200", "200", "429"]);
      const r = await curl(["--proxy", p.url("a"), "--include", `http://127.0.0.1:${up.port}/`]);
      expect(r.stdout).toMatch(/retry-after: 60/i);
    } finally {
      await p.close();
      await up.close();
    }
  });

  it("closes an idle tunnel and records egress-idle-timeout", async () => {
    const quiet = net.createServer((s) => s.on("error", () => undefined));
    await new Promise<void>((r) => quiet.listen(0, "127.0.0.1", r));
    const qp = (quiet.address() as AddressInfo).port;
    const p = await startProxy({
      profiles: { p: { allow: [{ host: "127.0.0.1", ports: [qp], unsafeAllowAddresses: ["127.0.0.1"] }] } },
      agents: { a: "p" },
      timeouts: { connectMs: 1_000, idleMs: 300, totalMs: 10_000, headersMs: 1_000 },
    });
    try {
      const started = Date.now();
      await new Promise<void>((resolve) => {
        const s = net.connect(p.port, "127.0.0.1");
        s.resume();
        s.on("close", () => resolve());
        s.on("error", () => undefined);
        s.write(`CONNECT 127.0.0.1:${qp} HTTP/1.1\r\nProxy-Authorization: Basic ${Buffer.from(`a:${p.token("a")}`).toString("base64")}\r\n\r\n`);
      });
      expect(Date.now() - started).toBeLessThan(3_000);
      await new Promise((r) => setTimeout(r, 50));
      expect(p.audit.events().find((e) => e.type === "outcome")?.outcome?.error).toMatch(/^egress-idle-timeout: no data for 300 ms/);
    } finally {
      await p.close();
      await new Promise((r) => quiet.close(r));
    }
  });

  it("refuses with 503 and sends nothing when the audit log cannot record the decision", async () => {
    const up = await startUpstream();
    const p = await startProxy(
      { profiles: { p: { allow: [{ host: "127.0.0.1", ports: [up.port], unsafeAllowAddresses: ["127.0.0.1"] }] } }, agents: { a: "p" } },
      { audit: { append: () => Promise.reject(new Error("disk full")) } },
    );
    try {
      const http1 = await curl(["--proxy", p.url("a"), "--include", `http://127.0.0.1:${up.port}/`]);
      expect(http1.stdout).toMatch(/^HTTP\/1\.1 503/);
      expect(http1.stdout).toMatch(/egress-audit-unavailable/);
      const tunnel = await curl(["--proxy", p.url("a"), "--proxytunnel", `http://127.0.0.1:${up.port}/`]);
      expect(tunnel.stderr).toMatch(/503/);
      expect(up.seen).toHaveLength(0);
    } finally {
      await p.close();
      await up.close();
    }
  });
});

describe("egress proxy never dials itself", () => {
  it("refuses a CONNECT to its own address and port even when a rule names it as unsafe", async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const { createEgressProxy, egressPolicySchema, mintRunToken } = await import("../src/egress/index.js");
    const { createMemoryAuditLog } = await import("../src/audit/index.js");
    const key = Buffer.alloc(32, 7);
    const proxy = await createEgressProxy({
      policy: egressPolicySchema.parse({ profiles: { p: { allow: [{ host: "127.0.0.1", ports: [port], unsafeAllowAddresses: ["127.0.0.0/8"] }] } }, agents: { a: "p" } }),
      tokenKey: key,
      audit: createMemoryAuditLog(),
    });
    await proxy.listen({ host: "127.0.0.1", port });
    try {
      const token = mintRunToken(key, { agent: "a", run: "r", expiresAt: Date.now() + 60_000 });
      const r = await curl(["--proxy", `http://a:${token}@127.0.0.1:${port}`, "--include", `http://127.0.0.1:${port}/loop`]);
      expect(r.stdout).toMatch(/^HTTP\/1\.1 403/);
      expect(r.stdout).toMatch(/address 127\.0\.0\.1 is in a forbidden class: the proxy's own listening address/);
    } finally {
      await proxy.close();
    }
  });
});

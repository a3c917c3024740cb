import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { runCli } from "../src/cli/program.js";
import { createLocalCa } from "../src/egress/index.js";
import { startUpstream } from "./egress-helpers.js";

const run = promisify(execFile);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe("gatehouse egress (CLI)", () => {
  let dir: string;
  const key = randomBytes(32).toString("hex");
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-egress-cli-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("refuses a bad policy with exit 2 and every problem at file:line:col", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "egress:\n  profiles:\n    dev:\n      allow:\n        - host: 1.2.3.4.5\n          bogus: true\n  agents:\n    coder: nope\n");
    const c = capture();
    process.env.GATEHOUSE_EGRESS_KEY = key;
    const code = await runCli(["egress", "--policy", file], c.io);
    expect(code).toBe(2);
    const text = c.err.join("\n");
    expect(text).toContain(`${file}:5:17 egress.profiles.dev.allow.0.host: host \`1.2.3.4.5\` is refused: it ends in a number but is not a valid IPv4 address`);
    expect(text).toMatch(/bad\.yaml:\d+:\d+ egress\.profiles\.dev\.allow\.0: Unrecognized key: "bogus"/);
    expect(text).toMatch(/bad\.yaml:8:\d+ egress\.agents\.coder: profile `nope` is not defined/);
  });

  it("needs a token key of 32 bytes and says how to make one", async () => {
    const c = capture();
    process.env.GATEHOUSE_EGRESS_KEY = "abcd";
    expect(await runCli(["egress", "token", "--agent", "a", "--run", "r"], c.io)).toBe(2);
    expect(c.err.join("\n")).toMatch(/at least 32 bytes[\s\S]*openssl rand -hex 32/);
  });

  it("runs as a process: serves allowed requests, refuses others, prints audit lines, stops on SIGTERM", async () => {
    const upstream = await startUpstream();
    const file = join(dir, "ok.yaml");
    await writeFile(file, `egress:\n  profiles:\n    dev:\n      allow:\n        - host: 127.0.0.1\n          ports: [${upstream.port}]\n          unsafeAllowAddresses: [127.0.0.1]\n  agents:\n    coder: dev\n`);
    const env = { ...process.env, GATEHOUSE_EGRESS_KEY: key };
    const token = (await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "egress", "token", "--agent", "coder", "--run", "cli-run"], { env })).stdout.trim();
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "egress", "--policy", file, "--listen", "127.0.0.1:0"], { env });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => {
          stderr += c.toString();
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", () => reject(new Error(stderr)));
      });
      const proxy = `http://coder:${token}@127.0.0.1:${port}`;
      const ok = await run("curl", ["-s", "--proxy", proxy, `http://127.0.0.1:${upstream.port}/cli`]);
      expect(JSON.parse(ok.stdout)).toMatchObject({ url: "/cli" });
      const refused = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", proxy, "http://127.0.0.2:80/"]);
      expect(refused.stdout).toBe("403");
      const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
      const events = stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; run?: string; decision?: { verdict: string } });
      expect(events.filter((e) => e.type === "decision").map((e) => e.decision?.verdict)).toEqual(["allow", "deny"]);
      expect(events.every((e) => e.run === "cli-run")).toBe(true);
    } finally {
      child.kill("SIGKILL");
      await upstream.close();
    }
  });

  it("injects a credential from the policy's `secrets:` section end to end: upstream gets it, the client never sees it", async () => {
    const SECRET = "sk-live-cli-7c1e9a44b2d06f38";
    const upstreamCa = await createLocalCa({ hosts: ["localhost"], now: Date.now });
    const upstreamCaFile = join(dir, "upstream-ca.pem");
    await writeFile(upstreamCaFile, upstreamCa.certPem);
    const ctx = await upstreamCa.secureContextFor("localhost");
    const seen: (string | undefined)[] = [];
    const upstream = https.createServer({ SNICallback: (_n, cb) => cb(null, ctx) }, (req, res) => {
      seen.push(req.headers.authorization);
      if (req.url === "/encoded") {
        // A debugging endpoint that echoes the key in other spellings, inside a binary body.
        const key = String(req.headers.authorization).replace(/^Bearer /, "");
        res.writeHead(200, { "content-type": "application/octet-stream" });
        res.end(
          Buffer.concat([
            Buffer.from([0, 255, 254, 1]),
            Buffer.from(`b64=${Buffer.from(`x${key}`).toString("base64")} hex=${Buffer.from(key).toString("hex")} url=${encodeURIComponent(`${key}/&`)} json=${JSON.stringify({ key })}`),
            Buffer.from([0, 255]),
          ]),
        );
        return;
      }
      res.writeHead(200, { "content-type": "text/plain", "x-echo": String(req.headers.authorization) });
      res.end(`you sent ${String(req.headers.authorization)}`);
    });
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
    const port = (upstream.address() as AddressInfo).port;
    const file = join(dir, "cred.yaml");
    const caOut = join(dir, "proxy-ca.pem");
    await writeFile(
      file,
      [
        "egress:",
        "  profiles:",
        "    dev:",
        "      allow:",
        "        - host: localhost",
        `          ports: [${port}]`,
        '          unsafeAllowAddresses: [127.0.0.1, "::1"]',
        "      credentials:",
        "        - host: localhost",
        `          ports: [${port}]`,
        "          header: Authorization",
        '          prefix: "Bearer "',
        "          secret: api_key",
        "  agents:",
        "    coder: dev",
        "secrets:",
        "  handles:",
        "    api_key:",
        "      from: { env: GATEHOUSE_TEST_API_KEY }",
        "      tools: []",
        "      hosts: [localhost]",
        "",
      ].join("\n"),
    );
    const env = { ...process.env, GATEHOUSE_EGRESS_KEY: key, GATEHOUSE_TEST_API_KEY: SECRET };
    const token = (await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "egress", "token", "--agent", "coder", "--run", "cred-run"], { env })).stdout.trim();
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "egress", "--policy", file, "--listen", "127.0.0.1:0", "--ca-out", caOut, "--upstream-ca", upstreamCaFile], { env });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    try {
      const proxyPort = await new Promise<number>((resolve, reject) => {
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => {
          stderr += c.toString();
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", () => reject(new Error(stderr)));
      });
      // The sandboxed client: no key in its environment, a fake Authorization of its own.
      const r = await run(
        "curl",
        ["-s", "-i", "--proxy", `http://coder:${token}@127.0.0.1:${proxyPort}`, "--cacert", caOut, "-H", "Authorization: Bearer forged", `https://localhost:${port}/echo`],
        { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } },
      );
      expect(seen).toEqual([`Bearer ${SECRET}`]);
      expect(r.stdout).toMatch(/HTTP\/1\.1 200 OK/);
      expect(r.stdout).toContain("you sent Bearer [gatehouse:scrubbed]");
      expect(r.stdout).toMatch(/x-echo: Bearer \[gatehouse:scrubbed\]/i);
      expect(r.stdout).not.toContain(SECRET);
      expect(r.stdout).not.toContain("forged");
      // Encoded echoes are scrubbed too (base64 at any alignment, hex, URL, JSON), byte for byte:
      // the binary bytes around them come through unchanged.
      const encoded = await new Promise<Buffer>((resolve, reject) => {
        const c = spawn("curl", ["-s", "--proxy", `http://coder:${token}@127.0.0.1:${proxyPort}`, "--cacert", caOut, `https://localhost:${port}/encoded`], { env: { PATH: process.env.PATH ?? "" } });
        const chunks: Buffer[] = [];
        c.stdout.on("data", (d: Buffer) => chunks.push(d));
        c.on("error", reject);
        c.on("close", () => resolve(Buffer.concat(chunks)));
      });
      const text = encoded.toString("latin1");
      expect(encoded.subarray(0, 4)).toEqual(Buffer.from([0, 255, 254, 1]));
      expect(encoded.subarray(-2)).toEqual(Buffer.from([0, 255]));
      expect(text).toContain("[gatehouse:scrubbed]");
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain(Buffer.from(SECRET).toString("hex"));
      expect(text).not.toContain(Buffer.from(`x${SECRET}`).toString("base64").slice(2, -2));
      expect(text).not.toContain(encodeURIComponent(`${SECRET}/`));
      const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
      expect(stdout).not.toContain(SECRET);
      const events = stdout.trim().split("\n").map((l) => JSON.parse(l) as { tool: string; type: string; args?: { credential?: unknown } });
      expect(events.find((e) => e.tool === "egress.intercepted" && e.type === "decision")?.args?.credential).toEqual({ header: "authorization", secret: "api_key" });
    } finally {
      child.kill("SIGKILL");
      upstream.closeAllConnections();
      await new Promise((resolve) => upstream.close(resolve));
    }
  });

  it("refuses (exit 2) a credential whose secret does not list the host under `hosts:`", async () => {
    const file = join(dir, "cred-bad.yaml");
    await writeFile(
      file,
      "egress:\n  profiles:\n    dev:\n      credentials:\n        - { host: api.example.com, header: x-api-key, secret: api_key }\n      allow: [{ host: api.example.com }]\n  agents: { coder: dev }\nsecrets:\n  handles:\n    api_key: { from: { env: K }, tools: [], hosts: [other.example.com] }\n",
    );
    const c = capture();
    process.env.GATEHOUSE_EGRESS_KEY = key;
    expect(await runCli(["egress", "--policy", file], c.io)).toBe(2);
    expect(c.err.join("\n")).toMatch(/egress\.profiles\.dev\.credentials\.0: secret `api_key` may not be sent to `api\.example\.com:443`[\s\S]*add `api\.example\.com` to `secrets\.handles\.api_key\.hosts`/);
    const undeclared = join(dir, "cred-undeclared.yaml");
    await writeFile(undeclared, "egress:\n  profiles:\n    dev:\n      credentials:\n        - { host: api.example.com, header: x-api-key, secret: nope }\n  agents: { coder: dev }\n");
    const d = capture();
    expect(await runCli(["egress", "--policy", undeclared], d.io)).toBe(2);
    expect(d.err.join("\n")).toMatch(/credentials\.0\.secret: `nope` is not declared under `secrets\.handles`/);
    const proto = join(dir, "cred-proto.yaml");
    await writeFile(proto, "egress:\n  profiles:\n    dev:\n      credentials:\n        - { host: api.example.com, header: x-api-key, secret: constructor }\n  agents: { coder: dev }\nsecrets:\n  handles: {}\n");
    const e = capture();
    expect(await runCli(["egress", "--policy", proto], e.io)).toBe(2);
    expect(e.err.join("\n")).toMatch(/`constructor` is not declared/);
  });
});

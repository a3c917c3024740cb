import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli/program.js";
import { mintRunToken } from "../src/egress/index.js";
import { POLICY_TEXT, tempDir } from "./approvals-helpers.js";
import { startUpstream } from "./egress-helpers.js";

const run = promisify(execFile);
const main = join(import.meta.dirname, "..", "src", "cli", "main.ts");

function egressSection(port: number): string {
  return `
egress:
  profiles:
    dev:
      allow:
        - host: 127.0.0.1
          ports: [${port}]
          unsafeAllowAddresses: [127.0.0.1]
  agents:
    coder: dev
`;
}

async function setup(policyText: string) {
  const dir = tempDir("gatehouse-serve-egress-");
  const policy = join(dir, "gatehouse.yaml");
  writeFileSync(policy, policyText);
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
  expect(await runCli(["audit", "keygen", "--name", "test/gatehouse/audit", "--out", join(dir, "audit.key")], io)).toBe(0);
  const auditDb = join(dir, "audit.db");
  const flags = ["--policy", policy, "--db", join(dir, "approvals.db"), "--audit-db", auditDb, "--audit-key", join(dir, "audit.key"), "--link-key", join(dir, "link.key")];
  return { dir, flags, io, out, err, auditDb };
}

describe("gatehouse serve --egress-listen", () => {
  it("hosts the egress proxy beside the control server and records into serve's audit log", async () => {
    const upstream = await startUpstream();
    const key = randomBytes(32);
    const { flags, auditDb } = await setup(POLICY_TEXT + egressSection(upstream.port));
    const child = spawn(process.execPath, ["--import", "tsx", main, "serve", ...flags, "--port", "0", "--egress-listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, GATEHOUSE_EGRESS_KEY: key.toString("hex") },
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      const ports = await new Promise<{ control: string; egress: number }>((resolve, reject) => {
        let stdout = "";
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          const egress = /egress proxy listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
          const control = /serve: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (egress && control) {
            clearTimeout(timer);
            resolve({ control: control[1]!, egress: Number(egress[1]) });
          }
        });
        child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });
      expect((await fetch(`${ports.control}/healthz`)).status).toBe(200);
      const token = mintRunToken(key, { agent: "coder", run: "serve-run", expiresAt: Date.now() + 60_000 });
      const proxy = `http://coder:${token}@127.0.0.1:${ports.egress}`;
      const ok = await run("curl", ["-s", "--proxy", proxy, `http://127.0.0.1:${upstream.port}/hosted`], { env: { PATH: process.env.PATH ?? "" } });
      expect(JSON.parse(ok.stdout)).toMatchObject({ url: "/hosted" });
      const refused = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", proxy, "http://127.0.0.2:80/"], { env: { PATH: process.env.PATH ?? "" } });
      expect(refused.stdout).toBe("403");
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
      await upstream.close();
    }
    const out: string[] = [];
    const io = { out: (s: string) => void out.push(s), err: () => undefined };
    expect(await runCli(["audit", "export", "--format", "jsonl", "--db", auditDb], io)).toBe(0);
    const events = out
      .join("\n")
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const text = JSON.stringify(events);
    expect(text).toContain("egress.http");
    expect(text).toContain("serve-run");
    expect(text).toContain("/hosted");
    expect(text).toContain("egress.allowlist.default-deny");
  }, 60_000);

  it("exits 2 when --egress-listen is given but the policy has no egress section", async () => {
    const { flags, io, err } = await setup(POLICY_TEXT);
    process.env.GATEHOUSE_EGRESS_KEY = randomBytes(32).toString("hex");
    expect(await runCli(["serve", ...flags, "--port", "0", "--egress-listen", "127.0.0.1:0"], io)).toBe(2);
    expect(err.join("\n")).toMatch(/--egress-listen needs an `egress:` section/);
  });
});

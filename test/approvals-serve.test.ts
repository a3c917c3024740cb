import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli/program.js";
import { POLICY_TEXT, tempDir, TOKENS } from "./approvals-helpers.js";

const main = join(import.meta.dirname, "..", "src", "cli", "main.ts");

async function setup(policyText = POLICY_TEXT) {
  const dir = tempDir("gatehouse-serve-");
  const policy = join(dir, "gatehouse.yaml");
  writeFileSync(policy, policyText);
  const out: string[] = [];
  const err: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
  expect(await runCli(["audit", "keygen", "--name", "test/gatehouse/audit", "--out", join(dir, "audit.key")], io)).toBe(0);
  const flags = ["--policy", policy, "--db", join(dir, "approvals.db"), "--audit-db", join(dir, "audit.db"), "--audit-key", join(dir, "audit.key"), "--link-key", join(dir, "link.key")];
  return { dir, flags, io, out, err };
}

describe("gatehouse serve", () => {
  it("refuses to listen on a non-loopback address when no approver has a token (exit 1, nothing bound)", async () => {
    const noTokens = POLICY_TEXT.replace(/, tokenSha256: "[0-9a-f]+"/g, "");
    const { flags, io, err } = await setup(noTokens);
    expect(await runCli(["serve", ...flags, "--host", "0.0.0.0", "--port", "0"], io)).toBe(1);
    expect(err.join("\n")).toContain("server-unauthenticated-public");
  });

  it("exits 2 on usage errors", async () => {
    const { flags, io } = await setup();
    expect(await runCli(["serve", ...flags, "--port", "99999"], io)).toBe(2);
    expect(await runCli(["serve", ...flags, "--postgres", "postgres://x"], io)).toBe(2);
  });

  it("serves the authenticated API on loopback and stops cleanly on SIGTERM", async () => {
    const { flags } = await setup();
    const child = spawn(process.execPath, ["--import", "tsx", main, "serve", ...flags, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      let stdout = "";
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
      child.stdout.on("data", (d: Buffer) => {
        stdout += d.toString();
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
      child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/v1/approvals`)).status).toBe(401);
    const list = await fetch(`${url}/v1/approvals`, { headers: { authorization: `Bearer ${TOKENS.alice}` } });
    expect(list.status).toBe(200);
    expect(await list.json()).toEqual({ requests: [] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 60_000);
});

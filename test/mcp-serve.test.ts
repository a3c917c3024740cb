import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { describe, expect, it } from "vitest";
import { tokenDigest } from "../src/approvals/index.js";
import { runCli } from "../src/cli/program.js";
import { FILESYSTEM_SERVER, GATEHOUSE_CLI, tempDir, textOf, writeFile } from "./mcp-helpers.js";

const APPROVER_TOKEN = "alice-approver-token-0123456789";
const MCP_TOKEN = "mcp-agent-token-0123456789abcdef";

function policyText(allowed: string): string {
  return `version: 1
agents: { dev: { owner: dev@example.com, environment: development } }
approvers:
  alice: { roles: [approver], tokenSha256: ${tokenDigest(APPROVER_TOKEN)} }
tools:
  read_text_file:
    risk: read-only
    args: { type: object, required: [path], properties: { path: { type: string, pathPrefix: ${allowed} } } }
  move_file:
    risk: high-risk-write
    args:
      type: object
      required: [source, destination]
      properties:
        source: { type: string, pathPrefix: ${allowed} }
        destination: { type: string, pathPrefix: ${allowed} }
mcp:
  servers:
    - name: fs
      command: ${JSON.stringify(process.execPath)}
      args: [${JSON.stringify(FILESYSTEM_SERVER)}, ${JSON.stringify(allowed)}]
`;
}

describe("gatehouse serve --mcp-listen", () => {
  it("hosts the multi-server gateway at /mcp behind a bearer token; an ask is approved through serve's API and the retry runs", async () => {
    const dir = tempDir("gh-mcp-serve-");
    const allowed = join(dir, "files");
    mkdirSync(join(allowed, "in"), { recursive: true });
    writeFile(join(allowed, "in", "report.txt"), "served\n");
    const policy = join(dir, "gatehouse.yaml");
    writeFileSync(policy, policyText(allowed));
    const io = { out: () => undefined, err: () => undefined };
    expect(await runCli(["audit", "keygen", "--name", "test/gatehouse/audit", "--out", join(dir, "audit.key")], io)).toBe(0);
    const flags = ["--policy", policy, "--db", join(dir, "approvals.db"), "--audit-db", join(dir, "audit.db"), "--audit-key", join(dir, "audit.key"), "--link-key", join(dir, "link.key")];
    const child = spawn(process.execPath, ["--import", "tsx", GATEHOUSE_CLI, "serve", ...flags, "--port", "0", "--mcp-listen", "127.0.0.1:0"], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, GATEHOUSE_MCP_TOKEN: MCP_TOKEN, XDG_DATA_HOME: join(dir, "data") },
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    try {
      const urls = await new Promise<{ control: string; mcp: URL }>((resolve, reject) => {
        let stdout = "";
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          const mcp = /MCP gateway listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(stdout);
          const control = /serve: listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (mcp && control) {
            clearTimeout(timer);
            resolve({ control: control[1]!, mcp: new URL(mcp[1]!) });
          }
        });
        child.on("exit", (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      });

      // Unauthenticated and wrongly authenticated requests are refused before any MCP handling.
      const init = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
      const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
      expect((await fetch(urls.mcp, { method: "POST", headers, body: init })).status).toBe(401);
      expect((await fetch(urls.mcp, { method: "POST", headers: { ...headers, authorization: `Bearer ${APPROVER_TOKEN}` }, body: init })).status).toBe(401);

      const auth = { requestInit: { headers: { authorization: `Bearer ${MCP_TOKEN}` } } };
      const client = new Client({ name: "served-client", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
      await client.connect(new StreamableHTTPClientTransport(urls.mcp, auth));
      const legacy = new V1Client({ name: "served-v1-client", version: "1.0.0" });
      await legacy.connect(new V1StreamableHTTPClientTransport(urls.mcp, auth));
      try {
        expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["move_file", "read_text_file"]);
        expect(textOf(await legacy.callTool({ name: "read_text_file", arguments: { path: join(allowed, "in", "report.txt") } }))).toContain("served");

        const args = { source: join(allowed, "in", "report.txt"), destination: join(allowed, "report.txt") };
        const first = await client.callTool({ name: "move_file", arguments: args });
        expect(first.isError).toBe(true);
        const id = /awaits approval \(request ([^,]+),/.exec(textOf(first))?.[1];
        expect(id).toBeTruthy();
        expect(existsSync(args.destination)).toBe(false);

        const answered = await fetch(`${urls.control}/v1/approvals/${id}/answers`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${APPROVER_TOKEN}` },
          body: JSON.stringify({ verdict: "approve" }),
        });
        expect(answered.status).toBe(200);
        const retried = await client.callTool({ name: "move_file", arguments: args });
        expect(retried.isError).toBeFalsy();
        expect(existsSync(args.destination)).toBe(true);
      } finally {
        await client.close();
        await legacy.close();
      }
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      child.kill("SIGKILL");
    }
  }, 60_000);

  it("refuses to start without a token for MCP clients, or with an approver's token", async () => {
    const dir = tempDir("gh-mcp-serve-notoken-");
    const policy = join(dir, "gatehouse.yaml");
    writeFileSync(policy, policyText(dir));
    const io = { out: () => undefined, err: () => undefined };
    expect(await runCli(["audit", "keygen", "--name", "test/gatehouse/audit", "--out", join(dir, "audit.key")], io)).toBe(0);
    const err: string[] = [];
    const previous = process.env.GATEHOUSE_MCP_TOKEN;
    delete process.env.GATEHOUSE_MCP_TOKEN;
    try {
      const code = await runCli(
        ["serve", "--policy", policy, "--db", join(dir, "approvals.db"), "--audit-db", join(dir, "audit.db"), "--audit-key", join(dir, "audit.key"), "--link-key", join(dir, "link.key"), "--port", "0", "--mcp-listen", "127.0.0.1:0"],
        { out: () => undefined, err: (s: string) => void err.push(s) },
      );
      expect(code).toBe(2);
      expect(err.join("\n")).toMatch(/GATEHOUSE_MCP_TOKEN/);
      process.env.GATEHOUSE_MCP_TOKEN = APPROVER_TOKEN;
      const shared: string[] = [];
      const again = await runCli(
        ["serve", "--policy", policy, "--db", join(dir, "approvals.db"), "--audit-db", join(dir, "audit.db"), "--audit-key", join(dir, "audit.key"), "--link-key", join(dir, "link.key"), "--port", "0", "--mcp-listen", "127.0.0.1:0"],
        { out: () => undefined, err: (s: string) => void shared.push(s) },
      );
      expect(again).toBe(2);
      expect(shared.join("\n")).toMatch(/approver `alice`'s token/);
    } finally {
      delete process.env.GATEHOUSE_MCP_TOKEN;
      if (previous !== undefined) process.env.GATEHOUSE_MCP_TOKEN = previous;
    }
  });
});

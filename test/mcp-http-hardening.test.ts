import { spawn } from "node:child_process";
import { Server } from "@modelcontextprotocol/server";
import { afterEach, describe, expect, it, vi } from "vitest";
import { everythingServer, GATEHOUSE_CLI, postRpc, root, startHttpHarness, type HttpHarness } from "./mcp-helpers.js";

const POLICY = `version: 1
agents: { dev: { owner: a@example.com, environment: development } }
tools:
  echo: { risk: read-only }
`;

const INITIALIZE = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };

describe("the gateway over Streamable HTTP refuses what a browser or a bad client sends, and keeps nothing of it", () => {
  let h: HttpHarness | undefined;
  afterEach(async () => {
    vi.restoreAllMocks();
    await h?.close();
    h = undefined;
  });

  it("closes the Server of an initialize the transport refuses, so refusals cannot pile up outside the session cap", async () => {
    h = await startHttpHarness(POLICY, [everythingServer("everything")], {}, { maxSessions: 5 });
    for (let i = 0; i < 40; i++) {
      // No `text/event-stream` in Accept: the SDK's transport refuses with 406 after the gateway connected a Server.
      const response = await fetch(h.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json" }, body: JSON.stringify(INITIALIZE) });
      expect(response.status).toBe(406);
      await response.text();
    }
    expect(h.handler.sessionCount()).toBe(0);
    const notified = vi.spyOn(Server.prototype, "sendToolListChanged");
    await h.gateway.refresh();
    // A refresh tells every connected client Server; the refused ones must be gone.
    expect(notified).not.toHaveBeenCalled();
    expect((await postRpc(h.url, INITIALIZE)).status).toBe(200);
  }, 60_000);

  it("refuses a request from a web page's origin (403) and serves local origins and clients that send none", async () => {
    h = await startHttpHarness(POLICY, [everythingServer("everything")]);
    const evil = await postRpc(h.url, INITIALIZE, { origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(JSON.stringify(evil.body)).toContain("origin not allowed");
    expect(h.handler.sessionCount()).toBe(0);
    expect((await postRpc(h.url, INITIALIZE, { origin: "http://localhost:6274" })).status).toBe(200);
    expect((await postRpc(h.url, INITIALIZE)).status).toBe(200);
  }, 60_000);
});

describe("gatehouse mcp --http", () => {
  it("will not start without an agent token: any local process could otherwise act as the agent", async () => {
    const env: Record<string, string | undefined> = { ...process.env };
    delete env.GATEHOUSE_MCP_TOKEN;
    const child = spawn(process.execPath, ["--import", "tsx", GATEHOUSE_CLI, "mcp", "--policy", "examples/support-agent.yaml", "--http", "0", "--", "true"], { cwd: root, env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(2);
    expect(stderr).toContain("--http needs GATEHOUSE_MCP_TOKEN");
  }, 60_000);
});

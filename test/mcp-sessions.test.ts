import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, describe, expect, it } from "vitest";
import { everythingServer, postRpc, startHttpHarness, textOf, type HttpHarness } from "./mcp-helpers.js";

const POLICY = `version: 1
agents: { dev: { owner: a@example.com, environment: development } }
tools:
  echo: { risk: read-only }
`;

function initialize(h: HttpHarness) {
  return postRpc(h.url, { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
}

function echo(h: HttpHarness, session: string, message: string) {
  return postRpc(h.url, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "echo", arguments: { message } } }, { "mcp-session-id": session, "mcp-protocol-version": "2025-06-18" });
}

describe("2025-era Streamable HTTP sessions end", () => {
  let h: HttpHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it("caps concurrent sessions (503 past the cap) and frees a slot on DELETE, after which the session is gone", async () => {
    h = await startHttpHarness(POLICY, [everythingServer("everything")], {}, { maxSessions: 2 });
    const first = (await initialize(h)).headers.get("mcp-session-id")!;
    const second = (await initialize(h)).headers.get("mcp-session-id")!;
    expect(first).toBeTruthy();
    expect(second).toBeTruthy();
    const third = await initialize(h);
    expect(third.status).toBe(503);
    expect(JSON.stringify(third.body)).toContain("too many sessions");

    const deleted = await fetch(h.url, { method: "DELETE", headers: { "mcp-session-id": first, "mcp-protocol-version": "2025-06-18" } });
    expect(deleted.status).toBe(200);
    expect(h.handler.sessionCount()).toBe(1);
    expect((await echo(h, first, "after delete")).status).toBe(404);
    expect((await initialize(h)).status).toBe(200);
    expect(JSON.stringify((await echo(h, second, "still here")).body)).toContain("still here");
  }, 60_000);

  it("closes a session idle past the timeout (404, the client re-initializes) and keeps one in use", async () => {
    h = await startHttpHarness(POLICY, [everythingServer("everything")], {}, { sessionIdleMs: 300 });
    const idle = (await initialize(h)).headers.get("mcp-session-id")!;
    const busy = (await initialize(h)).headers.get("mcp-session-id")!;
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 100));
      expect(JSON.stringify((await echo(h, busy, `tick ${i}`)).body)).toContain(`tick ${i}`);
    }
    const expired = await echo(h, idle, "too late");
    expect(expired.status).toBe(404);
    expect(JSON.stringify(expired.body)).toContain("unknown or expired session");
    expect(h.handler.sessionCount()).toBe(1);
    expect(h.logs.some((l) => l.includes(`session ${idle} idle`))).toBe(true);
  }, 60_000);

  it("keeps a session while its client listens on the GET stream, and closes it once the client has gone without DELETE", async () => {
    h = await startHttpHarness(POLICY, [everythingServer("everything")], {}, { sessionIdleMs: 200 });
    const client = new V1Client({ name: "v1", version: "1.0.0" });
    await client.connect(new V1StreamableHTTPClientTransport(h.url));
    expect(textOf(await client.callTool({ name: "echo", arguments: { message: "one" } }))).toContain("one");
    await new Promise((r) => setTimeout(r, 700));
    // The SDK client keeps a GET stream open for server notifications: that is a client still there.
    expect(textOf(await client.callTool({ name: "echo", arguments: { message: "two" } }))).toContain("two");
    expect(h.handler.sessionCount()).toBe(1);
    await client.close(); // drops its streams, sends no DELETE
    for (let i = 0; i < 40 && h.handler.sessionCount() > 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(h.handler.sessionCount()).toBe(0);
  }, 60_000);
});

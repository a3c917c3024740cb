import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client as V1Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport as V1StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createFilePinStore, GuardedStdioServerTransport, serveGatewayStdio, startMcpGateway, type McpGateway } from "../src/integrations/mcp/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { filesystemPolicy, filesystemServer, postRpc, startHttpHarness, StreamClientTransport, tempDir, textOf, writeFile, type HttpHarness } from "./mcp-helpers.js";

/**
 * The gateway speaks the stateless 2026-07-28 revision (MCP SDK v2) and the session-based revisions
 * clients use today, to clients built on the SDK's own Client (v2, and v1 for older clients).
 */
const MODERN = "2026-07-28";
const LEGACY_REVISIONS = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] as const;

describe("clients of every supported protocol revision, over Streamable HTTP", () => {
  let allowed: string;
  let h: HttpHarness;
  beforeAll(async () => {
    allowed = tempDir("gh-mcp-rev-");
    writeFile(join(allowed, "notes.txt"), "revision notes\n");
    h = await startHttpHarness(filesystemPolicy(allowed), [filesystemServer("fs", allowed)]);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it(`serves a client on ${MODERN} (stateless: no session, no initialize)`, async () => {
    const client = new Client({ name: "modern-client", version: "1.0.0" }, { versionNegotiation: { mode: { pin: MODERN } } });
    await client.connect(new StreamableHTTPClientTransport(h.url));
    try {
      expect(client.getProtocolEra()).toBe("modern");
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["create_directory", "list_directory", "move_file", "read_text_file", "write_file"]);
      const read = await client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } });
      expect(textOf(read)).toContain("revision notes");
      const denied = await client.callTool({ name: "write_file", arguments: { path: "/etc/gatehouse-rev", content: "x" } });
      expect(denied.isError).toBe(true);
      expect(textOf(denied)).toMatch(/Gatehouse denied/);
      // Stateless: the gateway opened no session for it.
      expect(h.handler.sessionCount()).toBe(0);
    } finally {
      await client.close();
    }
  });

  it(`tells a ${MODERN} client of tool-list changes on its subscriptions/listen stream`, async () => {
    const client = new Client({ name: "listening-client", version: "1.0.0" }, { versionNegotiation: { mode: { pin: MODERN } } });
    await client.connect(new StreamableHTTPClientTransport(h.url));
    let changed = 0;
    client.setNotificationHandler("notifications/tools/list_changed", () => {
      changed++;
    });
    const subscription = await client.listen({ toolsListChanged: true });
    try {
      expect(subscription.honoredFilter.toolsListChanged).toBe(true);
      await h.gateway.refresh();
      for (let i = 0; i < 100 && changed === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(changed).toBeGreaterThan(0);
    } finally {
      await subscription.close();
      await client.close();
    }
  });

  it("lets an SDK v2 client in `auto` negotiation pick 2026-07-28", async () => {
    const client = new Client({ name: "auto-client", version: "1.0.0" }, { versionNegotiation: { mode: "auto" } });
    await client.connect(new StreamableHTTPClientTransport(h.url));
    try {
      expect(client.getNegotiatedProtocolVersion()).toBe(MODERN);
      expect(textOf(await client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } }))).toContain("revision notes");
    } finally {
      await client.close();
    }
  });

  it("serves an SDK v2 client on the 2025 handshake (2025-11-25, in a session)", async () => {
    const client = new Client({ name: "legacy-v2-client", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(h.url));
    try {
      expect(client.getProtocolEra()).toBe("legacy");
      expect(client.getNegotiatedProtocolVersion()).toBe("2025-11-25");
      expect(h.handler.sessionCount()).toBe(1);
      expect(textOf(await client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } }))).toContain("revision notes");
    } finally {
      await client.close();
    }
  });

  it("serves a client on the v1 SDK (@modelcontextprotocol/sdk 1.x, as most clients ship today)", async () => {
    const client = new V1Client({ name: "v1-client", version: "1.0.0" });
    await client.connect(new V1StreamableHTTPClientTransport(h.url));
    try {
      const read = await client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } });
      expect(textOf(read)).toContain("revision notes");
    } finally {
      await client.close();
    }
  });

  it.each(LEGACY_REVISIONS)("negotiates %s with a client that asks for it, and serves calls in its session", async (revision) => {
    const init = await postRpc(h.url, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: revision, capabilities: {}, clientInfo: { name: `raw-${revision}`, version: "1" } },
    });
    expect(init.status).toBe(200);
    expect(init.body).toMatchObject({ id: 1, result: { protocolVersion: revision, serverInfo: { name: "gatehouse" } } });
    const session = init.headers.get("mcp-session-id");
    expect(session).toBeTruthy();
    const headers = { "mcp-session-id": session!, "mcp-protocol-version": revision };
    expect((await postRpc(h.url, { jsonrpc: "2.0", method: "notifications/initialized" }, headers)).status).toBe(202);
    const call = await postRpc(h.url, { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } } }, headers);
    expect(JSON.stringify(call.body)).toContain("revision notes");
    const end = await fetch(h.url, { method: "DELETE", headers });
    expect(end.status).toBe(200);
  });
});

describe("clients of both eras over stdio (`gatehouse mcp` as an `mcpServers` entry)", () => {
  let allowed: string;
  let gateway: McpGateway;
  beforeAll(async () => {
    allowed = tempDir("gh-mcp-rev-stdio-");
    writeFile(join(allowed, "notes.txt"), "stdio notes\n");
    gateway = await startMcpGateway({
      policy: parsePolicy(filesystemPolicy(allowed)),
      audit: createMemoryAuditLog(),
      servers: [filesystemServer("fs", allowed)],
      pins: createFilePinStore(join(tempDir("gh-mcp-pins-"), "pins.json")),
    });
  }, 60_000);
  afterAll(async () => {
    await gateway?.close();
  });

  it.each([
    ["2026-07-28 (server/discover, per-request envelope)", { versionNegotiation: { mode: { pin: MODERN } } }, "modern", MODERN],
    ["2025-11-25 (initialize)", {}, "legacy", "2025-11-25"],
  ] as const)("serves an SDK v2 client on %s", async (_name, options, era, version) => {
    const toGateway = new PassThrough();
    const fromGateway = new PassThrough();
    const serving = serveGatewayStdio(gateway, new GuardedStdioServerTransport(toGateway, fromGateway));
    const client = new Client({ name: "stdio-client", version: "1.0.0" }, options);
    await client.connect(new StreamClientTransport(toGateway, fromGateway));
    try {
      expect(client.getProtocolEra()).toBe(era);
      expect(client.getNegotiatedProtocolVersion()).toBe(version);
      expect((await client.listTools()).tools).toHaveLength(5);
      expect(textOf(await client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } }))).toContain("stdio notes");
    } finally {
      await client.close();
      await serving;
    }
  });
});

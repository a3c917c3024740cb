import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Client as V2Client, StreamableHTTPClientTransport as V2StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createFilePinStore, createMcpHttpHandler, GuardedStdioServerTransport, serveGatewayStdio, startMcpGateway } from "../src/integrations/mcp/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { EVERYTHING_SERVER, everythingServer, filesystemPolicy, filesystemServer, fixtureServer, startHarness, startHttpHarness, tempDir, textOf, writeFile, type Harness } from "./mcp-helpers.js";

const MULTI_POLICY = (allowed: string) =>
  filesystemPolicy(
    allowed,
    "fs__",
    `  everything__resources/read:
    risk: read-only
    args: { type: object, required: [uri], properties: { uri: { type: string, pattern: "^demo://resource/static/document/architecture\\\\.md$" } } }
  everything__prompts/get:
    risk: read-only
    args: { type: object, required: [name], properties: { name: { type: string, enum: [simple-prompt] }, arguments: { type: object } } }
  everything__trigger-long-running-operation: { risk: read-only }
`,
  );

describe("one gateway in front of several servers (server-filesystem and server-everything)", () => {
  let allowed: string;
  let h: Harness;
  beforeAll(async () => {
    allowed = tempDir("gh-mcp-multi-");
    writeFile(join(allowed, "a.txt"), "alpha\n");
    h = await startHarness(MULTI_POLICY(allowed), [filesystemServer("fs", allowed), everythingServer("everything", { exposeUnlisted: true })]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("serves each server's tools under `server__tool`, unlisted ones only where exposed", async () => {
    const names = (await h.client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("fs__read_text_file");
    expect(names).not.toContain("fs__read_multiple_files"); // fs is not exposeUnlisted
    expect(names).toContain("everything__echo");
    expect(names.every((n) => n.startsWith("fs__") || n.startsWith("everything__"))).toBe(true);
    // No false positives: nothing in these two real servers' tool definitions looks poisoned.
    expect([...h.gateway.catalog().blocked.values()].map((b) => b.name)).toEqual([]);
  });

  it.each([
    ["everything__echo", "read-only"], // readOnlyHint: true
    ["everything__gzip-file-as-resource", "low-risk-write"], // not destructive, idempotent, open world
    ["everything__toggle-simulated-logging", "low-risk-write"], // not destructive, not idempotent, closed world
    ["fs__read_text_file", "read-only"], // the policy classifies it; annotations are not consulted
    ["fs__move_file", "high-risk-write"],
  ])("takes the risk of `%s` from the policy, else seeds it from annotations: %s", (name, risk) => {
    expect(h.gateway.catalog().tools.get(name)?.risk).toBe(risk);
    expect(h.gateway.catalog().policy.tools.get(name)?.risk).toBe(risk);
  });

  it("forwards an allowed call to the right server", async () => {
    const echo = await h.client.callTool({ name: "everything__echo", arguments: { message: "hi" } });
    expect(textOf(echo)).toContain("hi");
    const read = await h.client.callTool({ name: "fs__read_text_file", arguments: { path: join(allowed, "a.txt") } });
    expect(textOf(read)).toContain("alpha");
  });

  it.each([["everything__fs__read_text_file"], ["fs__everything__echo"], ["fs___read_text_file"], ["__echo"], ["echo"]])(
    "refuses the smuggled or bare name `%s` with a JSON-RPC invalid-params error",
    async (name) => {
      const error = await h.client.callTool({ name, arguments: {} }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(McpError);
      expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    },
  );

  it("lists and reads resources and prompts under the same allow-list", async () => {
    const { resources } = await h.client.listResources();
    expect(resources.map((r) => r.uri)).toEqual(["demo://resource/static/document/architecture.md"]);
    const read = await h.client.readResource({ uri: "demo://resource/static/document/architecture.md" });
    expect(read.contents.length).toBeGreaterThan(0);
    const denied = await h.client.readResource({ uri: "demo://resource/static/document/features.md" }).catch((e: unknown) => e);
    expect(String(denied)).toMatch(/denied/);
    const { prompts } = await h.client.listPrompts();
    expect(prompts.map((p) => p.name)).toEqual(["everything__simple-prompt"]);
    const prompt = await h.client.getPrompt({ name: "everything__simple-prompt" });
    expect(prompt.messages.length).toBeGreaterThan(0);
    expect(String(await h.client.getPrompt({ name: "everything__args-prompt", arguments: { city: "x" } }).catch((e: unknown) => e))).toMatch(/denied/);
  });

  it("serves resources, prompts and progress to a client on 2026-07-28 too", async () => {
    const http = await startHttpHarness(MULTI_POLICY(allowed), [filesystemServer("fs", allowed), everythingServer("everything", { exposeUnlisted: true })]);
    const client = new V2Client({ name: "modern", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new V2StreamableHTTPClientTransport(http.url));
    try {
      expect((await client.listResources()).resources.map((r) => r.uri)).toEqual(["demo://resource/static/document/architecture.md"]);
      expect((await client.readResource({ uri: "demo://resource/static/document/architecture.md" })).contents.length).toBeGreaterThan(0);
      expect(String(await client.readResource({ uri: "demo://resource/static/document/features.md" }).catch((e: unknown) => e))).toMatch(/denied/);
      expect((await client.listPrompts()).prompts.map((p) => p.name)).toEqual(["everything__simple-prompt"]);
      expect((await client.getPrompt({ name: "everything__simple-prompt" })).messages.length).toBeGreaterThan(0);
      const progress: unknown[] = [];
      const result = await client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 0.2, steps: 2 } }, { onprogress: (p) => progress.push(p) });
      expect(result.isError).toBeFalsy();
      expect(progress.length).toBeGreaterThan(0);
    } finally {
      await client.close();
      await http.close();
    }
  }, 60_000);

  it("passes progress notifications through to the client", async () => {
    const progress: number[] = [];
    const result = await h.client.callTool(
      { name: "everything__trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p.progress) },
    );
    expect(result.isError).toBeFalsy();
    expect(progress.length).toBeGreaterThan(0);
  });
  it("passes a client's cancellation upstream, records it, and keeps serving", async () => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = h.client.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 10, steps: 5 } }, undefined, { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(pending).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(5000);
    await vi.waitFor(() =>
      expect(h.events().some((e) => e.tool === "everything__trigger-long-running-operation" && e.outcome?.status === "error")).toBe(true),
    );
    expect(textOf(await h.client.callTool({ name: "everything__echo", arguments: { message: "after" } }))).toContain("after");
  });
});

describe("tool poisoning and rug pulls", () => {
  const POLICY = `version: 1
agents: { dev: { owner: a@example.com, environment: development } }
tools:
  add: { risk: read-only }
  get_weather: { risk: read-only }
  translate: { risk: read-only }
  format_date: { risk: read-only }
  crash: { risk: read-only }
  garbage: { risk: read-only }
`;

  it("flags and blocks poisoned tool descriptions, reports them in the audit log, and serves the clean ones", async () => {
    const h = await startHarness(POLICY, [fixtureServer("fixture", { FIXTURE_MODE: "poisoned", FIXTURE_DESCRIPTION: "Adds two numbers" })]);
    try {
      const names = (await h.client.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual(["add", "crash", "garbage"]);
      const blocked = h.gateway.catalog().blocked;
      expect(blocked.get("get_weather")?.findings.map((f) => f.pattern)).toEqual(expect.arrayContaining(["tag-important", "credential-path", "hide-from-user"]));
      expect(blocked.get("translate")?.findings.map((f) => f.kind)).toEqual(expect.arrayContaining(["invisible-unicode", "instruction"]));
      expect(blocked.get("format_date")?.findings.map((f) => f.kind)).toContain("whitespace-run");
      const reported = h.events().filter((e) => e.decision?.code === "tool-poisoned").map((e) => e.tool).sort();
      expect(reported).toEqual(["format_date", "get_weather", "translate"]);
      const call = await h.client.callTool({ name: "get_weather", arguments: { city: "Paris" } });
      expect(call.isError).toBe(true);
      expect(textOf(call)).toMatch(/looks poisoned/);
    } finally {
      await h.close();
    }
  });

  it("blocks a tool whose definition changed since it was pinned, until a human re-approves it", async () => {
    const pinsFile = join(tempDir("gh-mcp-rug-"), "pins.json");
    const first = await startHarness(POLICY, [fixtureServer("fixture", { FIXTURE_MODE: "clean", FIXTURE_DESCRIPTION: "Adds two numbers" })], { pinsFile });
    expect(textOf(await first.client.callTool({ name: "add", arguments: { a: 1, b: 2 } }))).toBe("3");
    await first.close();

    const second = await startHarness(POLICY, [fixtureServer("fixture", { FIXTURE_MODE: "clean", FIXTURE_DESCRIPTION: "Adds two numbers. Also adds a tip." })], { pinsFile });
    try {
      expect((await second.client.listTools()).tools.map((t) => t.name)).not.toContain("add");
      const call = await second.client.callTool({ name: "add", arguments: { a: 1, b: 2 } });
      expect(call.isError).toBe(true);
      expect(textOf(call)).toMatch(/changed since it was approved/);
      expect(second.events().some((e) => e.tool === "add" && e.decision?.code === "tool-changed")).toBe(true);
    } finally {
      await second.close();
    }

    const store = createFilePinStore(pinsFile);
    const waiting = (await store.list()).find((r) => r.tool === "add")!;
    expect(waiting.candidateDefinition).toMatchObject({ description: "Adds two numbers. Also adds a tip." });
    const approved = await store.approve("fixture", "add", "alice", waiting.candidate!);
    expect(approved.tool).toBe("add");
    const third = await startHarness(POLICY, [fixtureServer("fixture", { FIXTURE_MODE: "clean", FIXTURE_DESCRIPTION: "Adds two numbers. Also adds a tip." })], { pinsFile });
    try {
      expect(textOf(await third.client.callTool({ name: "add", arguments: { a: 2, b: 2 } }))).toBe("4");
    } finally {
      await third.close();
    }
  });

  it("reports an upstream that crashes mid-call, does not restart it, and keeps serving the others", async () => {
    const allowed = tempDir("gh-mcp-crash-");
    writeFile(join(allowed, "a.txt"), "still served\n");
    const policy = filesystemPolicy(allowed, "fs__", `  fixture__crash: { risk: read-only }\n  fixture__add: { risk: read-only }\n`);
    const h = await startHarness(policy, [fixtureServer("fixture", { FIXTURE_MODE: "clean", FIXTURE_DESCRIPTION: "Adds two numbers" }), filesystemServer("fs", allowed)]);
    try {
      const crashed = await h.client.callTool({ name: "fixture__crash", arguments: {} });
      expect(crashed.isError).toBe(true);
      expect(textOf(crashed)).toMatch(/went down during the call|is down/);
      const after = await h.client.callTool({ name: "fixture__add", arguments: { a: 1, b: 1 } });
      expect(after.isError).toBe(true);
      expect(h.logs.filter((l) => l.includes("upstream `fixture` is down"))).toHaveLength(1);
      expect(h.gateway.upstreams().find((u) => u.name === "fixture")?.down()).toMatch(/not restarted/);
      expect(textOf(await h.client.callTool({ name: "fs__read_text_file", arguments: { path: join(allowed, "a.txt") } }))).toContain("still served");
      expect(h.events().some((e) => e.tool === "fixture__crash" && e.outcome?.status === "error")).toBe(true);
    } finally {
      await h.close();
    }
  });

  it("logs garbage an upstream writes on stdout and keeps the session", async () => {
    const h = await startHarness(POLICY, [fixtureServer("fixture", { FIXTURE_MODE: "clean", FIXTURE_DESCRIPTION: "Adds two numbers" })]);
    try {
      expect(textOf(await h.client.callTool({ name: "garbage", arguments: {} }))).toBe("still here");
      expect(h.logs.some((l) => l.startsWith("upstream `fixture`:"))).toBe(true);
      expect(textOf(await h.client.callTool({ name: "add", arguments: { a: 1, b: 2 } }))).toBe("3");
    } finally {
      await h.close();
    }
  });
});

describe("HTTP: upstreams over Streamable HTTP and legacy HTTP+SSE, and the gateway served over Streamable HTTP", () => {
  const children: ChildProcess[] = [];
  async function spawnEverything(mode: "streamableHttp" | "sse"): Promise<number> {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = spawn(process.execPath, [EVERYTHING_SERVER, mode], { env: { ...process.env, PORT: String(port) }, stdio: ["ignore", "ignore", "pipe"] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("server-everything did not start")), 15_000);
      child.stderr.on("data", (chunk: Buffer) => {
        if (/listening|running/i.test(chunk.toString())) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return port;
  }
  afterAll(() => {
    for (const child of children) child.kill();
  });

  const POLICY = `version: 1
agents: { dev: { owner: a@example.com, environment: development } }
tools:
  echo: { risk: read-only }
`;

  it.each([
    ["streamableHttp", "/mcp", "streamable-http"],
    ["sse", "/sse", "sse"],
  ] as const)("connects to a %s upstream and forwards an allowed call", async (mode, path, transport) => {
    const port = await spawnEverything(mode);
    const seen: string[] = [];
    const h = await startHarness(POLICY, [{ name: "remote", url: `http://127.0.0.1:${port}${path}`, transport: "auto" }], { log: (line) => seen.push(line) }).catch((error: unknown) => {
      throw new Error(`${String(error)}; the gateway logged:\n${seen.join("\n")}`);
    });
    try {
      expect(h.gateway.upstreams()[0]!.transport).toBe(transport);
      expect((await h.client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
      expect(textOf(await h.client.callTool({ name: "echo", arguments: { message: "over http" } }))).toContain("over http");
    } finally {
      await h.close();
    }
  });

  it("serves the gateway over Streamable HTTP, refusing oversized and malformed bodies", async () => {
    const gateway = await startMcpGateway({
      policy: parsePolicy(POLICY),
      audit: createMemoryAuditLog(),
      servers: [everythingServer("everything")],
      pins: createFilePinStore(join(tempDir("gh-mcp-http-"), "pins.json")),
    });
    const handler = createMcpHttpHandler(gateway, { maxMessageBytes: 64 * 1024 });
    const server: HttpServer = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
    try {
      const client = new Client({ name: "http-client", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      expect((await client.listTools()).tools.map((t) => t.name)).toEqual(["echo"]);
      expect(textOf(await client.callTool({ name: "echo", arguments: { message: "via gateway" } }))).toContain("via gateway");

      const post = (body: string) => fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body });
      const big = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { pad: "x".repeat(100_000) } }));
      expect(big.status).toBe(413);
      const bad = await post("{not json");
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { code: number } }).error.code).toBe(ErrorCode.ParseError);
      // The session opened before is unaffected.
      expect(textOf(await client.callTool({ name: "echo", arguments: { message: "still up" } }))).toContain("still up");
      await client.close();
    } finally {
      await handler.close();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
    }
  });
});

describe("the gateway's stdio transport under bad input", () => {
  it("answers malformed lines with JSON-RPC errors and keeps serving", async () => {
    const gateway = await startMcpGateway({
      policy: parsePolicy(`version: 1\nagents: { dev: { owner: a@example.com, environment: development } }\ntools: { echo: { risk: read-only } }\n`),
      audit: createMemoryAuditLog(),
      servers: [everythingServer("everything")],
      pins: createFilePinStore(join(tempDir("gh-mcp-stdio-"), "pins.json")),
    });
    const input = new PassThrough();
    const output = new PassThrough();
    const lines: string[] = [];
    let pending = "";
    output.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const parts = pending.split("\n");
      pending = parts.pop()!;
      lines.push(...parts);
    });
    const transport = new GuardedStdioServerTransport(input, output, { maxMessageBytes: 4096 });
    // As `gatehouse mcp` serves stdio: the SDK's serveStdio picks the revision from the opening message.
    const serving = serveGatewayStdio(gateway, transport);
    const next = async (count: number) => {
      for (let i = 0; i < 100 && lines.filter((l) => l.includes('"id"')).length < count - 1; i++) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      input.write("{this is not json\n");
      input.write(`${JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo", arguments: "x".repeat(8000) } })}\n`);
      input.write(`${JSON.stringify({ hello: "world", id: 8 })}\n`);
      input.write(`${JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "1" } } })}\n`);
      input.write(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
      input.write(`${JSON.stringify({ jsonrpc: "2.0", id: 2, method: "no/such/method", params: {} })}\n`);
      input.write(`${JSON.stringify({ jsonrpc: "2.0", id: 3, method: "tools/call", params: { name: "echo", arguments: { message: "ok" } } })}\n`);
      await next(7);
      const replies = lines.map((l) => JSON.parse(l) as { id?: unknown; error?: { code: number } }).filter((r) => "id" in r);
      const byId = (id: number) => replies.find((r) => r.id === id);
      expect(replies[0]).toMatchObject({ id: null, error: { code: ErrorCode.ParseError } });
      expect(replies[1]).toMatchObject({ id: null, error: { code: ErrorCode.InvalidRequest } });
      expect(byId(8)).toMatchObject({ error: { code: ErrorCode.InvalidRequest } });
      expect(byId(1)).toHaveProperty("result");
      expect(byId(2)).toMatchObject({ error: { code: ErrorCode.MethodNotFound } });
      expect(JSON.stringify(byId(3))).toContain("ok");
    } finally {
      await transport.close();
      await serving;
      await gateway.close();
    }
  });
});

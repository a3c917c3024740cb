import { mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import type { JSONRPCMessage as V2Message, Transport as V2Transport } from "@modelcontextprotocol/client";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { AuditEvent } from "../src/core/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import {
  createFilePinStore,
  createMcpHttpHandler,
  startMcpGateway,
  type McpGateway,
  type McpGatewayOptions,
  type McpHttpHandler,
  type McpHttpHandlerOptions,
  type McpServerConfig,
} from "../src/integrations/mcp/index.js";
import { parsePolicy } from "../src/policy/index.js";

export const root = join(import.meta.dirname, "..");
export const FILESYSTEM_SERVER = join(root, "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
export const EVERYTHING_SERVER = join(root, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
export const FIXTURE_SERVER = join(root, "test/fixtures/mcp-fixture-server.mjs");
export const GATEHOUSE_CLI = join(root, "src/cli/main.ts");

/** A fresh temporary directory (real path: the filesystem server compares resolved paths). */
export function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(join(tmpdir(), prefix)));
}

export function filesystemServer(name: string, allowed: string): McpServerConfig {
  return { name, command: process.execPath, args: [FILESYSTEM_SERVER, allowed] };
}

export function everythingServer(name: string, extra: Partial<McpServerConfig> = {}): McpServerConfig {
  return { name, command: process.execPath, args: [EVERYTHING_SERVER, "stdio"], ...extra };
}

export function fixtureServer(name: string, env: Record<string, string>): McpServerConfig {
  // The fixture reads its behaviour from these variables; the gateway passes only allow-listed ones.
  for (const [key, value] of Object.entries(env)) process.env[key] = value;
  return { name, command: process.execPath, args: [FIXTURE_SERVER], env: Object.keys(env), cwd: root };
}

/** The policy used by most tests: a filesystem confined to `allowed`. */
export function filesystemPolicy(allowed: string, prefix = "", extraTools = ""): string {
  return `version: 1
agents:
  dev: { owner: dev@example.com, environment: development }
tools:
  ${prefix}read_text_file:
    risk: read-only
    args:
      type: object
      required: [path]
      properties:
        path: { type: string, pathPrefix: ${allowed} }
        head: { type: number }
        tail: { type: number }
  ${prefix}write_file:
    risk: low-risk-write
    args:
      type: object
      required: [path, content]
      properties:
        path: { type: string, pathPrefix: ${allowed} }
        content: { type: string, maxLength: 100000 }
  ${prefix}list_directory:
    risk: read-only
    args: { type: object, required: [path], properties: { path: { type: string, pathPrefix: ${allowed} } } }
  ${prefix}move_file:
    risk: high-risk-write
    args:
      type: object
      required: [source, destination]
      properties:
        source: { type: string, pathPrefix: ${allowed} }
        destination: { type: string, pathPrefix: ${allowed} }
  ${prefix}create_directory:
    risk: low-risk-write
    args: { type: object, required: [path], properties: { path: { type: string, pathPrefix: ${allowed} } } }
${extraTools}rules:
  - id: mkdir-dry-run
    when: tool == "${prefix}create_directory"
    decision: dry-run
`;
}

export interface Harness {
  readonly gateway: McpGateway;
  readonly client: Client;
  events(): readonly AuditEvent[];
  readonly logs: string[];
  close(): Promise<void>;
}

/** Starts a gateway in-process and connects the SDK's own Client to it. */
export async function startHarness(
  policyText: string,
  servers: McpServerConfig[],
  extra: Partial<McpGatewayOptions> & { pinsFile?: string; clientCapabilities?: Record<string, unknown> } = {},
): Promise<Harness> {
  const audit = createMemoryAuditLog();
  const logs: string[] = [];
  const pinsFile = extra.pinsFile ?? join(tempDir("gh-mcp-pins-"), "pins.json");
  const gateway = await startMcpGateway({
    policy: parsePolicy(policyText, "test.yaml"),
    audit,
    servers,
    pins: createFilePinStore(pinsFile),
    log: (line) => logs.push(line),
    ...extra,
  });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await gateway.createServer().connect(serverSide);
  const client = new Client({ name: "test-client", version: "1.0.0" }, { capabilities: extra.clientCapabilities ?? {} });
  await client.connect(clientSide);
  return {
    gateway,
    client,
    events: () => audit.events(),
    logs,
    async close() {
      await client.close();
      await gateway.close();
    },
  };
}

export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.map((c) => c.text ?? "").join("\n");
}

export function writeFile(path: string, text: string): string {
  writeFileSync(path, text);
  return path;
}

/** A gateway served over Streamable HTTP on a loopback port, as `gatehouse mcp --http` serves it. */
export interface HttpHarness {
  readonly gateway: McpGateway;
  readonly handler: McpHttpHandler;
  readonly url: URL;
  events(): readonly AuditEvent[];
  readonly logs: string[];
  close(): Promise<void>;
}

export async function startHttpHarness(
  policyText: string,
  servers: McpServerConfig[],
  extra: Partial<McpGatewayOptions> = {},
  handlerOptions: McpHttpHandlerOptions = {},
): Promise<HttpHarness> {
  const audit = createMemoryAuditLog();
  const logs: string[] = [];
  const gateway = await startMcpGateway({
    policy: parsePolicy(policyText, "test.yaml"),
    audit,
    servers,
    pins: createFilePinStore(join(tempDir("gh-mcp-pins-"), "pins.json")),
    log: (line) => logs.push(line),
    ...extra,
  });
  const handler = createMcpHttpHandler(gateway, { log: (line) => logs.push(line), ...handlerOptions });
  const server = createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  return {
    gateway,
    handler,
    url,
    events: () => audit.events(),
    logs,
    async close() {
      await handler.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
    },
  };
}

/** One JSON-RPC exchange over Streamable HTTP by hand (the body may come back as JSON or as SSE). */
export async function postRpc(url: URL, message: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(message),
  });
  const text = await response.text();
  let body: unknown = undefined;
  if ((response.headers.get("content-type") ?? "").includes("text/event-stream")) {
    const replies = text
      .split("\n")
      .filter((line) => line.startsWith("data:"))
      .map((line) => JSON.parse(line.slice(5)) as { id?: unknown });
    body = replies.find((r) => r.id !== undefined) ?? replies[0];
  } else if (text.length > 0) {
    body = JSON.parse(text);
  }
  return { status: response.status, headers: response.headers, body };
}

/**
 * A client-side stdio transport over two streams (newline-delimited JSON-RPC, as the MCP stdio
 * transport frames it), for SDK clients talking to `serveGatewayStdio` in-process.
 */
export class StreamClientTransport implements V2Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: V2Message) => void;
  private pending = "";

  constructor(
    private readonly toServer: Writable,
    private readonly fromServer: Readable,
  ) {}

  start(): Promise<void> {
    this.fromServer.on("data", (chunk: Buffer) => {
      this.pending += chunk.toString("utf8");
      let newline: number;
      while ((newline = this.pending.indexOf("\n")) !== -1) {
        const line = this.pending.slice(0, newline);
        this.pending = this.pending.slice(newline + 1);
        if (line.trim()) this.onmessage?.(JSON.parse(line) as V2Message);
      }
    });
    return Promise.resolve();
  }

  send(message: V2Message): Promise<void> {
    this.toServer.write(`${JSON.stringify(message)}\n`);
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.toServer.end();
    this.onclose?.();
    return Promise.resolve();
  }
}

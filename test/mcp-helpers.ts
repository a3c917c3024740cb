import { mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { AuditEvent } from "../src/core/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createFilePinStore, startMcpGateway, type McpGateway, type McpGatewayOptions, type McpServerConfig } from "../src/integrations/mcp/index.js";
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

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Notification } from "@modelcontextprotocol/sdk/types.js";
import type { McpServerConfig } from "./config.js";
import { McpGatewayError, errorText } from "./errors.js";

/** The gateway's identity towards upstream servers. */
const CLIENT_INFO = { name: "gatehouse-mcp-gateway", version: "0.1.0" };

/** Default time one request to an upstream may take. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;

/** A connected upstream MCP server. */
export interface Upstream {
  readonly name: string;
  /** The command line or URL, for pins and messages. */
  readonly source: string;
  readonly client: Client;
  readonly timeoutMs: number;
  /** Which transport carried the connection. */
  readonly transport: "stdio" | "streamable-http" | "sse";
  /** Why the upstream is down (it crashed or closed), or undefined while it is up. */
  down(): string | undefined;
  close(): Promise<void>;
}

/** What the gateway wants to hear from an upstream. */
export interface UpstreamEvents {
  /** A notification the upstream sent (logging, list changes, resource updates...). */
  onNotification?(upstream: string, notification: Notification): void;
  /** The upstream went away; it is not restarted. */
  onDown?(upstream: string, reason: string): void;
  /** Something to log (the upstream's stderr lines, protocol errors such as garbage on stdout). */
  log?(line: string): void;
}

/**
 * Connects to one upstream: spawns a stdio server (its environment is the SDK's safe default plus
 * only the variables `env` names), or connects to a URL over Streamable HTTP, falling back to the
 * legacy HTTP+SSE transport when `transport` is `auto` and the server refuses the new one (the
 * spec's backwards-compatibility procedure, 2025-03-26 "Transports").
 *
 * A crashed or closed upstream is reported once through `onDown` and never restarted: a server
 * that crashes on start would otherwise be respawned in a loop.
 *
 * @example
 * const fs = await connectUpstream({ name: "fs", command: "mcp-server-filesystem", args: ["/srv"] }, { log: console.error });
 */
export async function connectUpstream(
  config: McpServerConfig,
  events: UpstreamEvents = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<Upstream> {
  const timeoutMs = config.timeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  if (config.command !== undefined) return connectStdio(config, config.command, events, env, timeoutMs);
  const url = new URL(config.url!);
  const mode = config.transport ?? "auto";
  if (mode === "sse") return connectHttp(config, url, "sse", events, timeoutMs);
  try {
    return await connectHttp(config, url, "streamable-http", events, timeoutMs);
  } catch (error) {
    if (mode !== "auto") throw error;
    events.log?.(`upstream \`${config.name}\`: Streamable HTTP failed (${errorText(error)}); trying the legacy HTTP+SSE transport`);
    return connectHttp(config, url, "sse", events, timeoutMs);
  }
}

function newClient(name: string, events: UpstreamEvents): Client {
  const client = new Client(CLIENT_INFO, { capabilities: {} });
  client.fallbackNotificationHandler = (notification) => {
    events.onNotification?.(name, notification);
    return Promise.resolve();
  };
  client.onerror = (error) => events.log?.(`upstream \`${name}\`: ${errorText(error)}`);
  return client;
}

async function connectStdio(
  config: McpServerConfig,
  command: string,
  events: UpstreamEvents,
  env: Readonly<Record<string, string | undefined>>,
  timeoutMs: number,
): Promise<Upstream> {
  const childEnv: Record<string, string> = getDefaultEnvironment();
  for (const name of config.env ?? []) {
    const value = env[name];
    if (value !== undefined) childEnv[name] = value;
  }
  const transport = new StdioClientTransport({
    command,
    args: config.args ?? [],
    env: childEnv,
    stderr: "pipe",
    ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
  });
  transport.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) events.log?.(`upstream \`${config.name}\` stderr: ${line.slice(0, 2000)}`);
  });
  const source = [command, ...(config.args ?? [])].join(" ");
  return finish(config.name, source, "stdio", newClient(config.name, events), transport, events, timeoutMs);
}

async function connectHttp(
  config: McpServerConfig,
  url: URL,
  kind: "streamable-http" | "sse",
  events: UpstreamEvents,
  timeoutMs: number,
): Promise<Upstream> {
  const transport = kind === "sse" ? new SSEClientTransport(url) : new StreamableHTTPClientTransport(url);
  return finish(config.name, url.href, kind, newClient(config.name, events), transport, events, timeoutMs);
}

async function finish(
  name: string,
  source: string,
  kind: Upstream["transport"],
  client: Client,
  transport: StdioClientTransport | SSEClientTransport | StreamableHTTPClientTransport,
  events: UpstreamEvents,
  timeoutMs: number,
): Promise<Upstream> {
  let downReason: string | undefined;
  let closing = false;
  client.onclose = () => {
    if (downReason !== undefined) return;
    downReason = closing ? "closed by the gateway" : "the connection closed (the server exited or crashed); it is not restarted";
    if (!closing) events.onDown?.(name, downReason);
  };
  try {
    await client.connect(transport, { timeout: Math.min(timeoutMs, 30_000) });
  } catch (error) {
    closing = true;
    await client.close().catch(() => undefined);
    throw new McpGatewayError(
      "mcp-upstream-unreachable",
      `cannot connect to upstream \`${name}\` (${source}): ${errorText(error)}`,
      "check the command or URL; run the server by hand to see its own error",
      { cause: error },
    );
  }
  return {
    name,
    source,
    client,
    timeoutMs,
    transport: kind,
    down: () => downReason,
    async close() {
      closing = true;
      await client.close().catch(() => undefined);
    },
  };
}

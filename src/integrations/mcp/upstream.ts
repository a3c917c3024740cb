import {
  Client,
  ProtocolError,
  ProtocolErrorCode,
  SSEClientTransport,
  StreamableHTTPClientTransport,
  type ClientCapabilities,
  type Notification,
  type Result,
  type Transport,
} from "@modelcontextprotocol/client";
import { getDefaultEnvironment, StdioClientTransport, type StdioServerParameters } from "@modelcontextprotocol/client/stdio";
import type { ChildProcess } from "node:child_process";
import type { ClientRequestKind, McpServerConfig } from "./config.js";
import { McpGatewayError, errorText } from "./errors.js";

/** The gateway's identity towards upstream servers. */
const CLIENT_INFO = { name: "gatehouse-mcp-gateway", version: "0.1.0" };

/** Default time one request to an upstream may take. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 60_000;

/**
 * How long a server may take to start and answer `initialize`: its call timeout, at least 10 s
 * (a short call timeout must not fail a server that starts slowly on a busy host) and at most 30 s.
 */
export function startupTimeoutMs(callTimeoutMs: number): number {
  return Math.max(10_000, Math.min(callTimeoutMs, 30_000));
}

/** Requests an upstream may send to the client behind the gateway (MCP 2025 push model). */
export const FORWARDED_UPSTREAM_REQUESTS = ["sampling/createMessage", "elicitation/create", "roots/list"] as const;
export type ForwardedUpstreamRequest = (typeof FORWARDED_UPSTREAM_REQUESTS)[number];

function isForwardedUpstreamRequest(method: string): method is ForwardedUpstreamRequest {
  return (FORWARDED_UPSTREAM_REQUESTS as readonly string[]).includes(method);
}

/** A connected upstream MCP server. */
export interface Upstream {
  readonly name: string;
  /** The command line or URL, for pins and messages. */
  readonly source: string;
  readonly client: Client;
  readonly timeoutMs: number;
  /** Which transport carried the connection. */
  readonly transport: "stdio" | "streamable-http" | "sse";
  /** The protocol revision negotiated with the upstream (`2026-07-28`, `2025-11-25`...). */
  readonly protocolVersion: string | undefined;
  /** Why the upstream is down (it crashed or closed), or undefined while it is up. */
  down(): string | undefined;
  close(): Promise<void>;
}

/** What the gateway wants to hear from an upstream. */
export interface UpstreamEvents {
  /** A notification the upstream sent (logging, list changes, resource updates...). */
  onNotification?(upstream: string, notification: Notification): void;
  /**
   * A request the upstream sent to the client side (sampling, elicitation, roots). The gateway
   * forwards it to the downstream client whose call is in flight, or rejects it; without this
   * hook every such request is refused.
   */
  onRequest?(upstream: string, method: ForwardedUpstreamRequest, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Result>;
  /** The upstream went away; it is not restarted. */
  onDown?(upstream: string, reason: string): void;
  /** Something to log (the upstream's stderr lines, protocol errors such as garbage on stdout). */
  log?(line: string): void;
}

/**
 * Connects to one upstream with the MCP SDK v2 client: spawns a stdio server (its environment is
 * the SDK's safe default plus only the variables `env` names), or connects to a URL over Streamable
 * HTTP, falling back to the legacy HTTP+SSE transport when `transport` is `auto` and the server
 * refuses the new one (the spec's backwards-compatibility procedure, 2025-03-26 "Transports").
 *
 * Protocol revision: over HTTP the client probes with `server/discover` and speaks the stateless
 * 2026-07-28 revision when the server offers it, else falls back to the `initialize` handshake
 * (2025-11-25 down to 2024-11-05). Over stdio it opens with `initialize`, which every stdio server
 * answers (servers on SDK v2 serve it too); probing would spawn the server a second time.
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

/**
 * Connects to an upstream over a transport the caller built (an in-process server, a custom
 * socket): the same client and down-reporting as `connectUpstream`. `clientRequests` (default
 * none) is what the server's policy entry allows; only those client capabilities are declared.
 *
 * @example
 * const [near, far] = InMemoryTransport.createLinkedPair(); await myServer.connect(far);
 * const upstream = await connectUpstreamTransport("local", "in-process", near, events, 60_000, ["roots"]);
 */
export function connectUpstreamTransport(
  name: string,
  source: string,
  transport: Transport,
  events: UpstreamEvents = {},
  timeoutMs: number = DEFAULT_UPSTREAM_TIMEOUT_MS,
  clientRequests: readonly ClientRequestKind[] = [],
): Promise<Upstream> {
  return finish(name, source, "stdio", newClient(name, events, false, clientRequests), transport, events, timeoutMs);
}

/**
 * The capabilities declared to an upstream: only the client features its `clientRequests`
 * allows, so a well-behaved server does not even offer the tools that need the others
 * (server-everything registers its sampling tool only for a client that declares sampling).
 */
function declaredCapabilities(allowed: readonly ClientRequestKind[]): ClientCapabilities {
  return {
    ...(allowed.includes("sampling") ? { sampling: {} } : {}),
    ...(allowed.includes("elicitation") ? { elicitation: { form: {}, url: {} } } : {}),
    ...(allowed.includes("roots") ? { roots: { listChanged: true } } : {}),
  };
}

function newClient(name: string, events: UpstreamEvents, negotiate: boolean, allowed: readonly ClientRequestKind[]): Client {
  const capabilities = declaredCapabilities(allowed);
  const client = new GatewayClient(CLIENT_INFO, {
    // Each request is forwarded only when the policy allows it and to a downstream client that
    // declared the same capability, and refused otherwise (see `onRequest`).
    capabilities,
    ...(negotiate ? { versionNegotiation: { mode: "auto" as const } } : {}),
  });
  client.fallbackNotificationHandler = (notification) => {
    events.onNotification?.(name, notification);
    return Promise.resolve();
  };
  const forward = async (method: ForwardedUpstreamRequest, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Result> => {
    if (!events.onRequest) throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `Gatehouse does not forward ${method} requests`);
    return events.onRequest(name, method, params, signal);
  };
  for (const method of FORWARDED_UPSTREAM_REQUESTS) {
    // The SDK refuses a handler for a capability the client did not declare.
    if (method === "sampling/createMessage" && !capabilities.sampling) continue;
    if (method === "elicitation/create" && !capabilities.elicitation) continue;
    if (method === "roots/list" && !capabilities.roots) continue;
    client.setRequestHandler(method, async (request, ctx) => (await forward(method, request.params, ctx.mcpReq.signal)) as never);
  }
  // A server may send a request for a capability that was not declared to it (a hostile server
  // will): it reaches the gateway all the same, to be refused and recorded, not dropped unseen.
  client.fallbackRequestHandler = async (request, ctx) => {
    if (!isForwardedUpstreamRequest(request.method)) throw new ProtocolError(ProtocolErrorCode.MethodNotFound, `Method not found: ${request.method.slice(0, 100)}`);
    const params = request.params;
    return forward(request.method, typeof params === "object" && params !== null && !Array.isArray(params) ? params : undefined, ctx.mcpReq.signal);
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
  const transport = new LoggingStdioClientTransport(
    {
      command,
      args: config.args ?? [],
      env: childEnv,
      stderr: "pipe",
      ...(config.cwd === undefined ? {} : { cwd: config.cwd }),
    },
    (line) => events.log?.(`upstream \`${config.name}\`: dropped a stdout line that is not JSON-RPC: ${line}`),
  );
  transport.stderr?.on("data", (chunk: Buffer) => {
    for (const line of chunk.toString("utf8").split("\n")) if (line.trim()) events.log?.(`upstream \`${config.name}\` stderr: ${line.slice(0, 2000)}`);
  });
  const source = [command, ...(config.args ?? [])].join(" ");
  return finish(config.name, source, "stdio", newClient(config.name, events, false, config.clientRequests ?? []), transport, events, timeoutMs);
}

async function connectHttp(
  config: McpServerConfig,
  url: URL,
  kind: "streamable-http" | "sse",
  events: UpstreamEvents,
  timeoutMs: number,
): Promise<Upstream> {
  const transport = kind === "sse" ? new SSEClientTransport(url) : new StreamableHTTPClientTransport(url);
  return finish(config.name, url.href, kind, newClient(config.name, events, kind === "streamable-http", config.clientRequests ?? []), transport, events, timeoutMs);
}

async function finish(
  name: string,
  source: string,
  kind: Upstream["transport"],
  client: Client,
  transport: Transport,
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
    await client.connect(transport, { timeout: startupTimeoutMs(timeoutMs) });
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
    protocolVersion: client.getNegotiatedProtocolVersion(),
    down: () => downReason,
    async close() {
      closing = true;
      await client.close().catch(() => undefined);
    },
  };
}

/**
 * The SDK's client, with one change: on 2026-07-28 a server's requests to the client come
 * embedded in an `input_required` result, and the SDK fulfils them from the registered handlers
 * only, failing the whole call for a capability that was not declared. Falling back to
 * `fallbackRequestHandler` for those methods lets the gateway refuse and record such a request as
 * it does on 2025-era revisions (`_getRequestHandler` is the SDK's protected hook for exactly this
 * dispatch).
 */
class GatewayClient extends Client {
  protected override _getRequestHandler(method: string) {
    return super._getRequestHandler(method) ?? (isForwardedUpstreamRequest(method) ? this.fallbackRequestHandler : undefined);
  }
}

/**
 * The SDK's stdio client transport, plus a log line for each line on the server's stdout that is
 * not JSON: SDK v2 drops such lines silently, and an operator should see a server writing garbage
 * onto the protocol stream. (JSON that is not JSON-RPC reaches `onerror`, which is logged too.)
 * Only the first byte of each line is looked at, so the protocol path pays almost nothing.
 */
class LoggingStdioClientTransport extends StdioClientTransport {
  constructor(
    parameters: StdioServerParameters,
    private readonly onGarbage: (line: string) => void,
  ) {
    super(parameters);
  }

  override async start(): Promise<void> {
    await super.start();
    // The child process is the SDK's (not public API); without it, only the logging is lost.
    const stdout = (this as unknown as { _process?: ChildProcess })._process?.stdout;
    if (!stdout) return;
    let state: "start" | "json" | "garbage" = "start";
    let garbage = "";
    stdout.on("data", (chunk: Buffer) => {
      let at = 0;
      while (at < chunk.length) {
        if (state === "start") {
          const byte = chunk[at]!;
          if (byte === 0x0a || byte === 0x0d) {
            at++;
            continue;
          }
          // A JSON-RPC message is an object (or a batch array); whitespace may precede it.
          state = byte === 0x7b || byte === 0x5b || byte === 0x20 || byte === 0x09 ? "json" : "garbage";
          garbage = "";
        }
        const newline = chunk.indexOf(0x0a, at);
        const end = newline === -1 ? chunk.length : newline;
        if (state === "garbage" && garbage.length < 200) garbage += chunk.toString("utf8", at, Math.min(end, at + 200 - garbage.length));
        if (newline === -1) return;
        if (state === "garbage") this.onGarbage(garbage.replace(/[^\x20-\x7e]/g, "?"));
        state = "start";
        at = newline + 1;
      }
    });
  }
}

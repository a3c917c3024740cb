import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ReadableStreamDefaultReader, ReadableStreamReadResult } from "node:stream/web";
import {
  createMcpHandler,
  isInitializeRequest,
  isLegacyRequest,
  ProtocolErrorCode as ErrorCode,
  WebStandardStreamableHTTPServerTransport,
} from "@modelcontextprotocol/server";
import { errorText, type McpErrorCode } from "./errors.js";
import type { McpGateway } from "./gateway.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./stdio.js";

/** Default most concurrent 2025-era sessions. */
export const DEFAULT_MAX_SESSIONS = 100;
/** Default time a 2025-era session may go without a request before it is closed: 30 minutes. */
export const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;

export interface McpHttpHandlerOptions {
  /** Largest request body accepted; default 4 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * Host header values accepted (DNS rebinding protection, MCP spec "Security Warning" for
   * Streamable HTTP); default: localhost names on any port. `"any"` turns the check off, for a
   * server off loopback that authenticates every request itself.
   */
  readonly allowedHosts?: readonly string[] | "any";
  /**
   * `Origin` header values accepted when a request carries one (browsers do); default: localhost
   * origins only. Requests without `Origin` (every non-browser client) are not affected.
   */
  readonly allowedOrigins?: readonly string[];
  /** Most concurrent 2025-era sessions; an `initialize` past it is refused with 503. Default 100. */
  readonly maxSessions?: number;
  /**
   * A 2025-era session with no request in flight and none for this long is closed (its client
   * gets 404 and re-initializes, as the spec says). Default 30 minutes.
   */
  readonly sessionIdleMs?: number;
  readonly log?: (line: string) => void;
}

/** A node:http request handler serving the gateway over Streamable HTTP, and a way to end its sessions. */
export interface McpHttpHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** The number of open 2025-era sessions. */
  sessionCount(): number;
  /** Ends every session and in-flight exchange. */
  close(): Promise<void>;
}

interface Session {
  readonly transport: WebStandardStreamableHTTPServerTransport;
  lastSeen: number;
  active: number;
}

/**
 * Builds a `node:http` request handler that serves the gateway over Streamable HTTP, on the MCP
 * SDK v2, to clients of every revision in use:
 *
 * - **2026-07-28** (stateless): a request carrying the per-request `_meta` envelope is served by
 *   the SDK's `createMcpHandler` from a fresh gateway `Server` per request; no session. List
 *   changes reach such clients on their `subscriptions/listen` streams.
 * - **2025-11-25, 2025-06-18, 2025-03-26** (and 2024-11-05 clients on Streamable HTTP): one
 *   session per `Mcp-Session-Id`, opened by `initialize`, each with its own gateway `Server`.
 *   Sessions end on DELETE, after `sessionIdleMs` without a request, or when the handler closes;
 *   at most `maxSessions` are open at once.
 *
 * Mount it at a path of your server (`gatehouse serve` mounts it at `/mcp`). Bodies over the limit
 * get 413, bodies that are not JSON a JSON-RPC parse error (400), requests for an unknown or
 * expired session 404, and none of them affects other sessions.
 *
 * @example
 * const handler = createMcpHttpHandler(gateway);
 * http.createServer((req, res) => (req.url?.startsWith("/mcp") ? handler(req, res) : res.writeHead(404).end())).listen(8787, "127.0.0.1");
 */
export function createMcpHttpHandler(gateway: McpGateway, options: McpHttpHandlerOptions = {}): McpHttpHandler {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
  const idleMs = options.sessionIdleMs ?? DEFAULT_SESSION_IDLE_MS;
  const log = options.log ?? (() => undefined);
  const allowedHosts = options.allowedHosts;
  const allowedOrigins = options.allowedOrigins;
  const sessions = new Map<string, Session>();
  let opening = 0;

  const modern = createMcpHandler(() => gateway.createServer({ transient: true }), {
    legacy: "reject",
    maxRequestBodySize: maxBytes,
    onerror: (error) => log(`MCP over HTTP (2026-07-28): ${errorText(error)}`),
  });
  const unsubscribe = gateway.onChange((change) => {
    if (change.kind === "tools") modern.notify.toolsChanged();
    else if (change.kind === "prompts") modern.notify.promptsChanged();
    else if (change.kind === "resources") modern.notify.resourcesChanged();
    else if (change.kind === "resource") modern.notify.resourceUpdated(change.uri);
  });

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, session] of sessions) {
      if (session.active === 0 && now - session.lastSeen > idleMs) {
        log(`MCP over HTTP: session ${id} idle for ${Math.round((now - session.lastSeen) / 1000)} s; closed`);
        sessions.delete(id);
        void session.transport.close().catch(() => undefined);
      }
    }
  }, Math.max(50, Math.min(idleMs / 2, 60_000)));
  sweep.unref();

  /**
   * The MCP spec asks servers to validate `Origin`: a browser page must not drive the gateway.
   * Clients that are not browsers send none; a browser on a local page sends a localhost origin.
   */
  function originAllowed(req: IncomingMessage): boolean {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (allowedOrigins) return allowedOrigins.includes(origin);
    return /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(origin);
  }

  function hostAllowed(req: IncomingMessage): boolean {
    const host = req.headers.host ?? "";
    if (allowedHosts === "any") return true;
    if (allowedHosts) return allowedHosts.includes(host);
    return /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(host);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req)) return jsonError(res, 403, ErrorCode.InvalidRequest, "host not allowed", null);
    if (!originAllowed(req)) return jsonError(res, 403, ErrorCode.InvalidRequest, "origin not allowed", null);
    const header = req.headers["mcp-session-id"];
    const sessionId = Array.isArray(header) ? header[0] : header;
    const aborted = new AbortController();
    res.on("close", () => aborted.abort());
    if (req.method === "POST") {
      const body = await readBody(req, maxBytes);
      if (body === "too-large") return jsonError(res, 413, ErrorCode.InvalidRequest, `message larger than ${maxBytes} bytes`, "mcp-message-too-large");
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        return jsonError(res, 400, ErrorCode.ParseError, "parse error: the body is not JSON", "mcp-message-invalid");
      }
      const request = webRequest(req, aborted.signal, body);
      if (sessionId === undefined && !(await isLegacyRequest(request, parsed, { maxRequestBodySize: maxBytes }))) {
        return send(res, await modern.fetch(request, { parsedBody: parsed }));
      }
      if (sessionId !== undefined) return serveSession(res, sessionId, request, parsed);
      if (!isInitializeRequest(parsed)) return jsonError(res, 400, ErrorCode.InvalidRequest, "no session: send `initialize` first", null);
      if (sessions.size + opening >= maxSessions) {
        log(`MCP over HTTP: refused a new session, ${maxSessions} are open`);
        return jsonError(res, 503, ErrorCode.InternalError, `too many sessions (${maxSessions}); end one with DELETE or retry later`, null);
      }
      opening++;
      let transport: WebStandardStreamableHTTPServerTransport;
      try {
        transport = new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: randomUUID,
          onsessioninitialized: (id) => {
            sessions.set(id, { transport, lastSeen: Date.now(), active: 0 });
          },
          onsessionclosed: (id) => {
            sessions.delete(id);
          },
        });
        transport.onclose = () => {
          if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
        };
        await gateway.createServer().connect(transport);
        const response = await transport.handleRequest(request, { parsedBody: parsed });
        // Refused before a session began (a bad Accept header, an invalid initialize): nothing may
        // keep its Server and transport alive outside the session count.
        if (transport.sessionId === undefined) await transport.close().catch(() => undefined);
        return await send(res, response);
      } finally {
        opening--;
      }
    }
    if (req.method === "GET" || req.method === "DELETE") {
      if (sessionId === undefined) return jsonError(res, 400, ErrorCode.InvalidRequest, "missing Mcp-Session-Id", null);
      return serveSession(res, sessionId, webRequest(req, aborted.signal), undefined);
    }
    res.writeHead(405, { allow: "GET, POST, DELETE" }).end();
  }

  async function serveSession(res: ServerResponse, id: string, request: Request, parsed: unknown): Promise<void> {
    const session = sessions.get(id);
    if (!session) return jsonError(res, 404, ErrorCode.InvalidRequest, "unknown or expired session: send `initialize` again", null);
    session.active++;
    session.lastSeen = Date.now();
    try {
      const response = await session.transport.handleRequest(request, parsed === undefined ? {} : { parsedBody: parsed });
      // A GET stream stays open as long as the client listens; it counts as activity until it ends.
      await send(res, response);
    } finally {
      session.active--;
      session.lastSeen = Date.now();
    }
    if (request.method === "DELETE") {
      sessions.delete(id);
      await session.transport.close().catch(() => undefined);
    }
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      log(`MCP over HTTP: ${errorText(error)}`);
      if (!res.headersSent) jsonError(res, 500, ErrorCode.InternalError, "internal error", null);
      else res.end();
    });
  }) as McpHttpHandler;
  handler.sessionCount = () => sessions.size;
  handler.close = async () => {
    clearInterval(sweep);
    unsubscribe();
    const open = [...sessions.values()];
    sessions.clear();
    for (const session of open) await session.transport.close().catch(() => undefined);
    await modern.close().catch(() => undefined);
  };
  return handler;
}

/** The web-standard `Request` the SDK's HTTP entries take, for a node:http request. */
function webRequest(req: IncomingMessage, signal: AbortSignal, body?: Buffer): Request {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const url = new URL(req.url ?? "/", `http://${req.headers.host ?? "localhost"}`);
  return new Request(url, { method: req.method ?? "GET", headers, signal, ...(body === undefined ? {} : { body }) });
}

/** Writes a web-standard `Response` (a JSON body or an SSE stream) to a node:http response. */
async function send(res: ServerResponse, response: Response): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader() as unknown as ReadableStreamDefaultReader<Uint8Array>;
  res.on("close", () => void reader.cancel().catch(() => undefined));
  try {
    for (;;) {
      const chunk: ReadableStreamReadResult<Uint8Array> = await reader.read();
      if (chunk.done) break;
      if (!res.write(chunk.value)) await new Promise<void>((resolve) => res.once("drain", resolve).once("close", resolve));
    }
  } catch {
    // The client went away mid-stream; nothing more to write.
  }
  res.end();
}

function jsonError(res: ServerResponse, status: number, code: number, message: string, reason: McpErrorCode | null): void {
  // The same JSON-RPC error object the SDK's transport sends for its own HTTP-level refusals.
  const error = reason === null ? { code, message } : { code, message, data: { code: reason } };
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", error, id: null }));
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | "too-large"> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > maxBytes) {
      req.resume();
      resolve("too-large");
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > maxBytes) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(over ? "too-large" : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ErrorCode, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { errorText, type McpErrorCode } from "./errors.js";
import type { McpGateway } from "./gateway.js";
import { DEFAULT_MAX_MESSAGE_BYTES } from "./stdio.js";

export interface McpHttpHandlerOptions {
  /** Largest request body accepted; default 4 MiB. */
  readonly maxMessageBytes?: number;
  /**
   * Host header values accepted (DNS rebinding protection, MCP spec "Security Warning" for
   * Streamable HTTP); default: localhost names on any port.
   */
  readonly allowedHosts?: readonly string[];
  /** Most concurrent sessions; a new session past it is refused with 503. Default 100. */
  readonly maxSessions?: number;
  readonly log?: (line: string) => void;
}

/** A node:http request handler serving the gateway over Streamable HTTP, and a way to end its sessions. */
export interface McpHttpHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  /** Ends every session. */
  close(): Promise<void>;
}

/**
 * Builds a `node:http` request handler that serves the gateway over Streamable HTTP (MCP spec
 * 2025-03-26 on): one SDK transport and one gateway `Server` per session (`Mcp-Session-Id`). Mount
 * it at a path of your server (`gatehouse serve` mounts it at `/mcp`). Bodies over the limit get
 * 413, bodies that are not JSON get a JSON-RPC parse error (400), requests for an unknown session
 * 404, and none of them affects other sessions.
 *
 * @example
 * const handler = createMcpHttpHandler(gateway);
 * http.createServer((req, res) => (req.url?.startsWith("/mcp") ? handler(req, res) : res.writeHead(404).end())).listen(8787, "127.0.0.1");
 */
export function createMcpHttpHandler(gateway: McpGateway, options: McpHttpHandlerOptions = {}): McpHttpHandler {
  const maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const maxSessions = options.maxSessions ?? 100;
  const log = options.log ?? (() => undefined);
  const allowedHosts = options.allowedHosts;
  const sessions = new Map<string, StreamableHTTPServerTransport>();

  function hostAllowed(req: IncomingMessage): boolean {
    const host = req.headers.host ?? "";
    if (allowedHosts) return allowedHosts.includes(host);
    return /^(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/.test(host);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hostAllowed(req)) return jsonError(res, 403, ErrorCode.InvalidRequest, "host not allowed", null);
    const header = req.headers["mcp-session-id"];
    const sessionId = Array.isArray(header) ? header[0] : header;
    if (req.method === "POST") {
      const body = await readBody(req, maxBytes);
      if (body === "too-large") return jsonError(res, 413, ErrorCode.InvalidRequest, `message larger than ${maxBytes} bytes`, "mcp-message-too-large");
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        return jsonError(res, 400, ErrorCode.ParseError, "parse error: the body is not JSON", "mcp-message-invalid");
      }
      if (sessionId !== undefined) {
        const transport = sessions.get(sessionId);
        if (!transport) return jsonError(res, 404, ErrorCode.InvalidRequest, "unknown or expired session", null);
        return transport.handleRequest(req, res, parsed);
      }
      if (!isInitializeRequest(parsed)) return jsonError(res, 400, ErrorCode.InvalidRequest, "no session: send `initialize` first", null);
      if (sessions.size >= maxSessions) return jsonError(res, 503, ErrorCode.InternalError, "too many sessions", null);
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: randomUUID,
        onsessioninitialized: (id) => {
          sessions.set(id, transport);
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
        },
      });
      transport.onclose = () => {
        if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
      };
      await gateway.createServer().connect(transport);
      return transport.handleRequest(req, res, parsed);
    }
    if (req.method === "GET" || req.method === "DELETE") {
      const transport = sessionId === undefined ? undefined : sessions.get(sessionId);
      if (!transport) return jsonError(res, sessionId === undefined ? 400 : 404, ErrorCode.InvalidRequest, "unknown or missing session", null);
      return transport.handleRequest(req, res);
    }
    res.writeHead(405, { allow: "GET, POST, DELETE" }).end();
  }

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      log(`MCP over HTTP: ${errorText(error)}`);
      if (!res.headersSent) jsonError(res, 500, ErrorCode.InternalError, "internal error", null);
      else res.end();
    });
  }) as McpHttpHandler;
  handler.close = async () => {
    for (const transport of sessions.values()) await transport.close().catch(() => undefined);
    sessions.clear();
  };
  return handler;
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

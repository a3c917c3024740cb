import type { Readable, Writable } from "node:stream";
import { JSONRPCMessageSchema } from "@modelcontextprotocol/core";
import { ProtocolErrorCode as ErrorCode, type JSONRPCMessage, type Server, type Transport } from "@modelcontextprotocol/server";
import { serveStdio } from "@modelcontextprotocol/server/stdio";
import type { McpErrorCode } from "./errors.js";

/** Default largest message (one line) the gateway accepts from a stdio client: 4 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface GuardedStdioOptions {
  readonly maxMessageBytes?: number;
  /** Called with each line the transport refused (for the operator's log). */
  readonly onRefused?: (why: string) => void;
}

/**
 * The gateway's stdio server transport: newline-delimited JSON-RPC as the MCP stdio transport
 * specifies, with the SDK's message schema, but a bad line never ends the session. The SDK's own
 * `StdioServerTransport` closes the connection when its buffer overflows and answers nothing to a
 * line that is not JSON; a client (or an injection into its stream) could take the gateway down.
 * Here:
 *
 * - a line longer than `maxMessageBytes` is skipped up to its newline and answered with a
 *   JSON-RPC error (-32600, `id: null`), without ever buffering more than the limit;
 * - a line that is not JSON is answered with a parse error (-32700, `id: null`);
 * - JSON that is not a JSON-RPC message is answered with -32600 (with its `id` when it has one).
 */
export class GuardedStdioServerTransport implements Transport {
  onclose?: (() => void) | undefined;
  onerror?: ((error: Error) => void) | undefined;
  onmessage?: ((message: JSONRPCMessage) => void) | undefined;

  private readonly maxBytes: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private skipping = false;
  private started = false;
  private closed = false;
  private markClosed!: () => void;
  /** Settles when the transport closes (the client closed its end, or `close()` was called). */
  readonly whenClosed: Promise<void> = new Promise((resolve) => (this.markClosed = resolve));

  constructor(
    private readonly input: Readable = process.stdin,
    private readonly output: Writable = process.stdout,
    private readonly options: GuardedStdioOptions = {},
  ) {
    this.maxBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  start(): Promise<void> {
    if (this.started) throw new Error("GuardedStdioServerTransport already started");
    this.started = true;
    this.input.on("data", this.onData);
    this.input.on("error", this.onInputError);
    this.input.on("end", this.onEnd);
    return Promise.resolve();
  }

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onEnd = (): void => {
    void this.close();
  };

  private readonly onData = (chunk: Buffer | string): void => {
    let data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
    while (data.length > 0) {
      const newline = data.indexOf(0x0a);
      const part = newline === -1 ? data : data.subarray(0, newline);
      if (!this.skipping) {
        if (this.buffered + part.length > this.maxBytes) {
          this.chunks = [];
          this.buffered = 0;
          this.skipping = true;
          this.refuse(ErrorCode.InvalidRequest, `message larger than ${this.maxBytes} bytes`, null, "mcp-message-too-large");
        } else {
          this.chunks.push(part);
          this.buffered += part.length;
        }
      }
      if (newline === -1) return;
      data = data.subarray(newline + 1);
      if (this.skipping) {
        this.skipping = false;
        continue;
      }
      const line = Buffer.concat(this.chunks).toString("utf8").replace(/\r$/, "");
      this.chunks = [];
      this.buffered = 0;
      if (line.trim().length > 0) this.deliver(line);
    }
  };

  private deliver(line: string): void {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.refuse(ErrorCode.ParseError, "parse error: the line is not JSON", null, "mcp-message-invalid");
      return;
    }
    const parsed = JSONRPCMessageSchema.safeParse(value);
    if (!parsed.success) {
      const id = typeof value === "object" && value !== null && "id" in value ? (value).id : null;
      this.refuse(ErrorCode.InvalidRequest, "invalid request: not a JSON-RPC 2.0 message", typeof id === "string" || typeof id === "number" ? id : null, "mcp-message-invalid");
      return;
    }
    this.onmessage?.(parsed.data);
  }

  private refuse(code: number, message: string, id: string | number | null, reason: McpErrorCode): void {
    this.options.onRefused?.(message);
    // JSON-RPC 2.0 §5: an error for a request whose id cannot be read carries `id: null`, a shape
    // the SDK's message type does not model; it is written here, framed like any other message.
    void this.write(`${JSON.stringify({ jsonrpc: "2.0", id, error: { code, message, data: { code: reason } } })}\n`);
  }

  private write(text: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      if (this.output.write(text)) resolve();
      else this.output.once("drain", resolve);
    });
  }

  send(message: JSONRPCMessage): Promise<void> {
    return this.write(`${JSON.stringify(message)}\n`);
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.input.off("data", this.onData);
    this.input.off("error", this.onInputError);
    this.input.off("end", this.onEnd);
    this.chunks = [];
    this.markClosed();
    this.onclose?.();
    return Promise.resolve();
  }
}

/**
 * Serves the gateway over stdio to clients of every revision: the SDK's `serveStdio` reads the
 * opening message and pins one gateway `Server` for the connection, in the stateless 2026-07-28
 * revision when the client opens with `server/discover`, else in the revision its `initialize`
 * negotiates (2025-11-25 down to 2024-11-05). Resolves when the client closes the connection.
 *
 * @example
 * await serveGatewayStdio(gateway, new GuardedStdioServerTransport(), (e) => console.error(e.message));
 */
export async function serveGatewayStdio(gateway: { createServer(): Server }, transport: GuardedStdioServerTransport, onerror?: (error: Error) => void): Promise<void> {
  const handle = serveStdio(() => gateway.createServer(), { transport, ...(onerror ? { onerror } : {}) });
  await transport.whenClosed;
  await handle.close().catch(() => undefined);
}

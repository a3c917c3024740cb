import type http from "node:http";
import net from "node:net";
import type { LookupFunction } from "node:net";
import type { Duplex } from "node:stream";
import { EgressError, statusForCode, type EgressErrorCode } from "./errors.js";
import type { AddressClassification } from "./ssrf.js";

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: "Bad Request",
  403: "Forbidden",
  407: "Proxy Authentication Required",
  408: "Request Timeout",
  421: "Misdirected Request",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/** A header-safe, one-line version of a reason (printable ASCII only). */
export function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 512);
}

/** Status, headers and body of a refusal, shared by the HTTP and the raw-socket paths. */
export function refusal(code: EgressErrorCode, reason: string): { status: number; headers: Record<string, string>; body: string } {
  const status = statusForCode(code);
  const headers: Record<string, string> = {
    "content-type": "text/plain; charset=utf-8",
    "x-gatehouse-error": headerSafe(`${code}: ${reason}`),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  };
  if (status === 407) headers["proxy-authenticate"] = 'Basic realm="gatehouse-egress"';
  if (status === 429) headers["retry-after"] = "60";
  return { status, headers, body: `gatehouse egress refused this request (${code})\n${reason}\n` };
}

/**
 * Writes a refusal straight onto a socket (CONNECT, or a request the HTTP parser rejected) and
 * closes it. Never throws: the client may already be gone.
 */
export function writeRawRefusal(socket: Duplex, code: EgressErrorCode, reason: string): void {
  const r = refusal(code, reason);
  const body = Buffer.from(r.body, "utf8");
  const lines = [`HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status] ?? "Error"}`];
  for (const [k, v] of Object.entries(r.headers)) lines.push(`${k}: ${v}`);
  lines.push(`content-length: ${body.length}`, "connection: close", "", "");
  try {
    if (socket.writable) socket.end(Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), body]));
    else socket.destroy();
  } catch {
    socket.destroy();
  }
}

// Dialling is by checked IP only; a name reaching net.connect would be a second, unchecked lookup.
const refuseLookup: LookupFunction = (hostname, _options, callback) => {
  callback(new Error(`refusing to resolve \`${hostname}\` at connect time`), "", 4);
};

/**
 * Connects to the first reachable of the checked addresses (in resolver order), within
 * `timeoutMs` overall. Only addresses the SSRF guard allowed are passed in; the name is never
 * looked up again. Throws `egress-connect-timeout` or `egress-connect-failed`.
 */
export async function dialChecked(
  addresses: readonly AddressClassification[],
  port: number,
  timeoutMs: number,
): Promise<{ socket: net.Socket; address: string }> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (const candidate of addresses) {
    if (!candidate.allowed) throw new EgressError("egress-check-error", `refusing to dial unchecked address ${candidate.address}`);
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      const socket = await connectOnce(candidate.dialAddress, port, remaining);
      return { socket, address: candidate.dialAddress };
    } catch (error) {
      last = error;
      if (error instanceof EgressError && error.code === "egress-connect-timeout") throw error;
    }
  }
  if (Date.now() >= deadline) throw new EgressError("egress-connect-timeout", `connecting took longer than ${timeoutMs} ms`);
  const detail = last instanceof Error ? last.message : "no address to dial";
  throw new EgressError("egress-connect-failed", `could not connect: ${detail}`, { cause: last });
}

function connectOnce(address: string, port: number, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: address, port, allowHalfOpen: true, lookup: refuseLookup, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new EgressError("egress-connect-timeout", `connecting to ${address}:${port} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      // Whoever takes the socket adds its own handler; until then an error must not crash us.
      socket.on("error", () => socket.destroy());
      resolve(socket);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });
}

/**
 * Sends a client's request body upstream, each chunk counted against the byte budget (a spent
 * budget ends the upstream request); a client that goes away ends it too, and `done` runs.
 */
export function relayRequestBody(req: http.IncomingMessage, upstreamReq: http.ClientRequest, res: http.ServerResponse, watch: Watch, done: () => void): void {
  req.on("data", (chunk: Buffer) => {
    if (!watch.count("up", chunk.length)) upstreamReq.destroy();
  });
  req.pipe(upstreamReq);
  res.on("close", () => {
    upstreamReq.destroy();
    done();
  });
}

/** Counts bytes and watches idle and total time for one request or tunnel. */
export interface Watch {
  /** Call on every chunk; returns false when the connection must be cut. */
  count(direction: "up" | "down", bytes: number): boolean;
  /**
   * Records bytes moved without per-chunk counting (read from the sockets at close, when no
   * byte budget needs a cut mid-stream); charges the budget ledger once.
   */
  settle(direction: "up" | "down", bytes: number): void;
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Why the connection was cut, when it was. */
  readonly cutBy: { code: EgressErrorCode; message: string } | undefined;
  stop(): void;
}

/**
 * Starts the idle and total timers; `onCut` runs once when either fires or a byte budget is
 * spent (via `charge`, which returns a reason to cut or undefined).
 */
export function startWatch(options: {
  readonly idleMs: number;
  readonly totalMs: number;
  readonly charge: (direction: "up" | "down", bytes: number) => string | undefined;
  readonly onCut: (code: EgressErrorCode, message: string) => void;
  /**
   * Watch idleness with this socket's own timeout instead of a timer refreshed per chunk. Node
   * re-arms a socket's timeout on every read and write, so for a tunnel the client socket sees
   * traffic in both directions.
   */
  readonly idleSocket?: net.Socket;
}): Watch {
  let up = 0;
  let down = 0;
  let cutBy: Watch["cutBy"];
  const cut = (code: EgressErrorCode, message: string): void => {
    if (cutBy) return;
    cutBy = { code, message };
    stop();
    options.onCut(code, message);
  };
  const onIdle = (): void => cut("egress-idle-timeout", `no data for ${options.idleMs} ms`);
  const socket = options.idleSocket;
  const idle = socket ? undefined : setTimeout(onIdle, options.idleMs);
  if (socket) socket.setTimeout(options.idleMs, onIdle);
  const total = setTimeout(() => cut("egress-total-timeout", `open longer than ${options.totalMs} ms`), options.totalMs);
  idle?.unref();
  total.unref();
  function stop(): void {
    clearTimeout(idle);
    clearTimeout(total);
    if (socket) {
      socket.setTimeout(0);
      socket.off("timeout", onIdle);
    }
  }
  return {
    settle(direction, bytes) {
      if (bytes <= 0) return;
      if (direction === "up") up += bytes;
      else down += bytes;
      options.charge(direction, bytes);
    },
    count(direction, bytes) {
      if (cutBy) return false;
      if (direction === "up") up += bytes;
      else down += bytes;
      idle?.refresh();
      const spent = options.charge(direction, bytes);
      if (spent) {
        cut("egress-budget-exceeded", spent);
        return false;
      }
      return true;
    },
    get bytesUp() {
      return up;
    },
    get bytesDown() {
      return down;
    },
    get cutBy() {
      return cutBy;
    },
    stop,
  };
}

/**
 * Splices two sockets together with half-close: when one side ends its writing (FIN), the
 * other side's writing is ended too, and data still flowing the other way keeps flowing.
 * Resolves once both sockets are closed.
 *
 * With `perChunk` every chunk is counted (and may cut the tunnel at a byte budget). Without it
 * the relay is a bare `pipe()` both ways, and the caller settles the byte counts from the
 * upstream socket's `bytesWritten`/`bytesRead` at close: a per-chunk handler costs a JS call,
 * a timer refresh and a budget update for every 64 KiB read, on the hottest path of the proxy.
 */
export function spliceSockets(client: net.Socket, upstream: net.Socket, watch: Watch, perChunk = true): Promise<void> {
  return new Promise((resolve) => {
    let closed = 0;
    const onClose = (): void => {
      closed += 1;
      if (closed === 1) {
        // One side is gone: give the other a moment to flush, then tear it down.
        client.end();
        upstream.end();
        setTimeout(() => {
          client.destroy();
          upstream.destroy();
        }, 5_000).unref();
      }
      if (closed === 2) resolve();
    };
    client.on("close", onClose);
    upstream.on("close", onClose);
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    if (perChunk) {
      client.on("data", (chunk: Buffer) => {
        if (!watch.count("up", chunk.length)) {
          client.destroy();
          upstream.destroy();
        }
      });
      upstream.on("data", (chunk: Buffer) => {
        if (!watch.count("down", chunk.length)) {
          client.destroy();
          upstream.destroy();
        }
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
}

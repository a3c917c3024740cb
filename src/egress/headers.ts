import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http";

// RFC 9110 §7.6.1 hop-by-hop fields, plus the proxy's own: they describe one connection, so
// they are never forwarded (Proxy-Authorization carries the run token and must not leak on).
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authorization",
  "proxy-authenticate",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "http2-settings",
]);

/**
 * Copies the end-to-end headers of a message (from `rawHeaders`, keeping case and repeats),
 * dropping hop-by-hop fields and any field the `Connection` header names.
 */
export function endToEndHeaders(rawHeaders: readonly string[], headers: IncomingHttpHeaders, drop: readonly string[] = []): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? "")
      .split(",")
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s.length > 0),
  );
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] ?? "";
    const value = rawHeaders[i + 1] ?? "";
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named.has(lower) || drop.includes(lower)) continue;
    const prev = out[lower];
    if (prev === undefined) out[lower] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else out[lower] = [prev, value];
  }
  return out;
}

/** `host[:port]` for a Host header, with brackets around IPv6. */
export function hostHeader(host: string, port: number, defaultPort: number, isIpv6: boolean): string {
  const h = isIpv6 ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}

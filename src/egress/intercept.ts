import http from "node:http";
import type net from "node:net";
import tls from "node:tls";
import zlib from "node:zlib";
import type { Duplex, Transform } from "node:stream";
import type { BudgetLedger } from "./budgets.js";
import type { EgressAllowed } from "./decide.js";
import { EgressError, type EgressErrorCode } from "./errors.js";
import { endToEndHeaders, hostHeader } from "./headers.js";
import { parseAuthority, printable } from "./host.js";
import type { EgressRecorder } from "./record.js";
import type { EgressPolicy } from "./schema.js";
import { createScrubStream, scrubText } from "./scrub.js";
import type { LocalCa } from "./tls-intercept.js";
import { dialChecked, refusal, relayRequestBody, startWatch, writeRawRefusal } from "./tunnel.js";

/**
 * Supplies the value of a credential: `host` is the exact host the policy names, `secret` the
 * secret name from the policy. Resolve with the value; reject (or resolve empty) to refuse.
 */
export type CredentialSource = (
  host: string,
  context: { readonly secret: string; readonly header: string; readonly agent: string; readonly run: string },
) => Promise<string>;

interface TunnelContext {
  readonly decision: EgressAllowed;
  readonly action: string;
  /** Bytes of all requests inside the tunnel, for the tunnel's own outcome. */
  readonly totals: { up: number; down: number };
}

/** Handles CONNECT tunnels to credential hosts: TLS termination, injection, scrubbing. */
export interface Interceptor {
  intercept(client: net.Socket, head: Buffer, decision: EgressAllowed, action: string, started: number): Promise<void>;
  close(): void;
}

/**
 * Creates the interceptor. The client's TLS ends at the proxy with a leaf certificate from the
 * local CA; each request inside is checked (Host must be the CONNECT host, budgets), gets the
 * credential header (any value the client sent in it is dropped), and goes to the checked
 * address over TLS verified against the real host name. Responses are decoded (gzip, deflate,
 * br) and scrubbed of the injected value before the client sees them.
 */
export function createInterceptor(deps: {
  readonly ca: LocalCa;
  readonly serverOptions: http.ServerOptions;
  readonly credentialFor: CredentialSource;
  readonly budgets: BudgetLedger;
  readonly recorder: EgressRecorder;
  readonly policy: EgressPolicy;
  readonly upstreamCa: string | readonly string[] | undefined;
  readonly scrubVariants: ((value: string) => readonly string[]) | undefined;
  readonly now: () => number;
  readonly onError: (error: unknown) => void;
  readonly track: (socket: Duplex) => void;
}): Interceptor {
  const contexts = new WeakMap<object, TunnelContext>();
  const inner = http.createServer({ ...deps.serverOptions, requireHostHeader: true });
  const { policy, budgets } = deps;

  function refuse(res: http.ServerResponse, code: EgressErrorCode, reason: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const r = refusal(code, reason);
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  }

  async function credentialValue(tunnel: TunnelContext): Promise<string> {
    const c = tunnel.decision.credential;
    if (!c) throw new EgressError("egress-check-error", "intercepted tunnel without a credential rule");
    let value: unknown;
    try {
      value = await deps.credentialFor(c.host, { secret: c.secret, header: c.header, agent: tunnel.decision.identity.agent, run: tunnel.decision.identity.run });
    } catch (error) {
      throw new EgressError("egress-credential-unavailable", `credential \`${c.secret}\` for \`${c.host}\` is unavailable: ${error instanceof Error ? error.message : String(error)}`);
    }
    // A value with CR/LF would split the header (request smuggling); refuse rather than mangle.
    if (typeof value !== "string" || value.length === 0 || /[\r\n\0]/.test(value)) {
      throw new EgressError("egress-credential-unavailable", `credential \`${c.secret}\` for \`${c.host}\` is empty or not a valid header value`);
    }
    return value;
  }

  // Built once: the system roots plus a private CA, not re-parsed for every request.
  const upstreamContext =
    deps.upstreamCa === undefined
      ? undefined
      : tls.createSecureContext({ ca: [...tls.rootCertificates, ...(typeof deps.upstreamCa === "string" ? [deps.upstreamCa] : deps.upstreamCa)], minVersion: "TLSv1.2" });

  /** Dials the first reachable checked address (all of them, in order), then TLS to the real name. */
  function connectTls(addresses: EgressAllowed["addresses"], port: number, servername: string): Promise<{ secure: tls.TLSSocket; address: string }> {
    return dialChecked(addresses, port, policy.timeouts.connectMs).then(
      ({ socket, address }) =>
        new Promise<{ secure: tls.TLSSocket; address: string }>((resolve, reject) => {
          const secure = tls.connect({ socket, servername, ALPNProtocols: ["http/1.1"], minVersion: "TLSv1.2", ...(upstreamContext ? { secureContext: upstreamContext } : {}) });
          const timer = setTimeout(() => {
            secure.destroy();
            reject(new EgressError("egress-connect-timeout", `TLS handshake with ${servername} took longer than ${policy.timeouts.connectMs} ms`));
          }, policy.timeouts.connectMs);
          secure.once("secureConnect", () => {
            clearTimeout(timer);
            secure.removeAllListeners("error");
            secure.on("error", () => secure.destroy());
            resolve({ secure, address });
          });
          secure.once("error", (error: Error) => {
            clearTimeout(timer);
            secure.destroy();
            reject(new EgressError("egress-upstream-tls", `TLS with ${servername} failed: ${error.message}`, { cause: error }));
          });
        }),
    );
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = deps.now();
    const tunnel = contexts.get(req.socket);
    if (!tunnel) {
      req.resume();
      refuse(res, "egress-check-error", "request on an unknown intercepted connection");
      return;
    }
    const d = tunnel.decision;
    let hostOk: boolean;
    try {
      const asked = parseAuthority(String(req.headers.host ?? ""), d.target.port);
      hostOk = asked.hostText === d.target.hostText && asked.port === d.target.port;
    } catch {
      hostOk = false;
    }
    const path = req.url ?? "/";
    let code: EgressErrorCode | undefined;
    let reason = "";
    if (!hostOk) {
      code = "egress-misdirected";
      reason = `Host \`${printable(String(req.headers.host ?? ""))}\` does not match the tunnel to \`${d.target.hostText}:${d.target.port}\``;
    } else if (!path.startsWith("/")) {
      code = "egress-bad-request";
      reason = "the request target must be a path inside an intercepted tunnel";
    } else {
      const spent = budgets.admitRequest(d.identity) ?? budgets.checkBytes(d.identity);
      if (spent) {
        code = "egress-budget-exceeded";
        reason = spent.reason;
      }
    }
    const requestDecision: EgressAllowed | { allow: false; code: EgressErrorCode; reason: string; rule: string; identity: EgressAllowed["identity"]; target: EgressAllowed["target"] } =
      code === undefined ? d : { allow: false, code, reason, rule: `egress.intercept.${code.replace(/^egress-/, "")}`, identity: d.identity, target: d.target };
    let action: string;
    try {
      action = await deps.recorder.decision("egress.intercepted", requestDecision, { method: req.method ?? "GET", path, authority: `${d.target.hostText}:${d.target.port}` });
    } catch (error) {
      deps.onError(error);
      req.resume();
      refuse(res, "egress-audit-unavailable", "the audit log could not record this request, so it is refused");
      return;
    }
    if (code !== undefined) {
      req.resume();
      refuse(res, code, reason);
      return;
    }
    const cred = d.credential;
    let value: string;
    let upstream: tls.TLSSocket;
    let dialled: string;
    try {
      value = await credentialValue(tunnel);
      ({ secure: upstream, address: dialled } = await connectTls(d.addresses, d.target.port, d.target.hostText));
    } catch (error) {
      const e = error instanceof EgressError ? error : new EgressError("egress-connect-failed", String(error));
      req.resume();
      refuse(res, e.code, e.message);
      deps.recorder
        .outcome("egress.intercepted", action, d, { status: "error", bytesUp: 0, bytesDown: 0, durationMs: deps.now() - started, error: { code: e.code, message: e.message } })
        .catch(deps.onError);
      return;
    }
    deps.track(upstream);
    const injected = `${cred?.prefix ?? ""}${value}`;
    // The exact value first (so `Bearer <value>` keeps its prefix visible), then encoded forms.
    const secrets = [...new Set([value, injected, ...(deps.scrubVariants?.(value) ?? [])])];
    const header = cred?.header ?? "authorization";
    const headers = endToEndHeaders(req.rawHeaders, req.headers, [header, "accept-encoding"]);
    headers.host = hostHeader(d.target.hostText, d.target.port, 443, false);
    headers[header] = injected;
    headers["accept-encoding"] = "identity";
    headers.connection = "close";
    let status: number | undefined;
    const watch = startWatch({
      idleMs: policy.timeouts.idleMs,
      totalMs: policy.timeouts.totalMs,
      charge: (direction, bytes) => budgets.addBytes(d.identity, direction, bytes)?.reason,
      onCut: (cutCode, message) => {
        upstream.destroy();
        if (!res.headersSent) refuse(res, cutCode, message);
        else res.destroy();
      },
    });
    await new Promise<void>((resolve) => {
      const upstreamReq = http.request({ createConnection: () => upstream, method: req.method, path, headers, setHost: false });
      upstreamReq.on("error", (error: Error) => {
        if (!res.headersSent) refuse(res, "egress-connect-failed", `upstream failed: ${scrubText(error.message, secrets)}`);
        else res.destroy();
        resolve();
      });
      upstreamReq.on("response", (upstreamRes) => {
        status = upstreamRes.statusCode ?? 502;
        const out = endToEndHeaders(upstreamRes.rawHeaders, upstreamRes.headers, ["content-length", "content-encoding"]);
        for (const [name, v] of Object.entries(out)) {
          if (v === undefined) continue;
          out[name] = Array.isArray(v) ? v.map((x) => scrubText(String(x), secrets)) : scrubText(String(v), secrets);
        }
        upstreamRes.on("data", (chunk: Buffer) => {
          if (!watch.count("down", chunk.length)) upstreamRes.destroy();
        });
        let body: NodeJS.ReadableStream = upstreamRes;
        // Node undoes `chunked` only: a body under another transfer-coding (`gzip, chunked`)
        // would reach the scrubber compressed and the client could decode the key out of it.
        const transfer = upstreamRes.headers["transfer-encoding"];
        if (transfer !== undefined && transfer.trim().toLowerCase() !== "chunked") {
          upstreamRes.destroy();
          refuse(res, "egress-upstream-tls", `response transfer-coding \`${printable(transfer)}\` cannot be scrubbed`);
          resolve();
          return;
        }
        const decoder = decoderFor(String(upstreamRes.headers["content-encoding"] ?? "identity"));
        if (decoder === "unsupported") {
          upstreamRes.destroy();
          refuse(res, "egress-upstream-tls", `response encoding \`${printable(String(upstreamRes.headers["content-encoding"]))}\` cannot be scrubbed`);
          resolve();
          return;
        }
        if (decoder) {
          decoder.on("error", () => res.destroy());
          body = upstreamRes.pipe(decoder);
        }
        res.writeHead(status, out);
        body.pipe(createScrubStream(secrets)).pipe(res);
        upstreamRes.on("error", () => res.destroy());
        res.on("finish", resolve);
      });
      relayRequestBody(req, upstreamReq, res, watch, resolve);
    });
    watch.stop();
    tunnel.totals.up += watch.bytesUp;
    tunnel.totals.down += watch.bytesDown;
    const cut = watch.cutBy;
    deps.recorder
      .outcome("egress.intercepted", action, d, {
        status: cut || status === undefined ? "error" : "ok",
        address: dialled,
        bytesUp: watch.bytesUp,
        bytesDown: watch.bytesDown,
        durationMs: deps.now() - started,
        ...(status !== undefined ? { httpStatus: status } : {}),
        ...(cut ? { error: cut } : {}),
      })
      .catch(deps.onError);
  }

  inner.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      deps.onError(error);
      refuse(res, "egress-check-error", "the proxy failed while handling this request, so it is refused");
    });
  });
  inner.on("clientError", (_error: Error, socket: Duplex) => socket.destroy());

  return {
    async intercept(client, head, decision, action, started) {
      const release = decision.releaseTunnel ?? (() => undefined);
      // A client that leaves while its certificate is made must not hold its tunnel slot until
      // the idle timeout (the proxy makes `release` once-only). The server's sockets are
      // half-open, so its leaving shows as an end of stream, seen only when reading: read, and
      // put back whatever early bytes (a ClientHello) arrive.
      const watchEarlyData = () => {
        const early: Buffer | null = client.read() as Buffer | null;
        if (early !== null) {
          client.removeListener("readable", watchEarlyData);
          client.unshift(early);
        }
      };
      const left = () => {
        release();
        client.destroy();
      };
      client.on("readable", watchEarlyData);
      client.once("end", left);
      client.once("close", release);
      let secureContext: tls.SecureContext;
      try {
        secureContext = await deps.ca.secureContextFor(decision.target.hostText);
      } catch (error) {
        release();
        const message = error instanceof Error ? error.message : String(error);
        writeRawRefusal(client, "egress-ca-failed", message);
        return;
      } finally {
        client.removeListener("readable", watchEarlyData);
        client.removeListener("end", left);
      }
      if (client.destroyed || client.readableEnded) {
        left();
        return;
      }
      client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
      if (head.length > 0) client.unshift(head);
      const secure = new tls.TLSSocket(client, { isServer: true, secureContext, ALPNProtocols: ["http/1.1"] });
      secure.on("error", () => secure.destroy());
      deps.track(secure);
      const totals = { up: 0, down: 0 };
      contexts.set(secure, { decision, action, totals });
      secure.setTimeout(policy.timeouts.idleMs, () => secure.destroy());
      const total = setTimeout(() => secure.destroy(), policy.timeouts.totalMs);
      total.unref();
      secure.once("close", () => {
        clearTimeout(total);
        release();
        deps.recorder
          .outcome("egress.connect", action, decision, { status: "ok", address: decision.addresses[0]?.dialAddress ?? "", bytesUp: totals.up, bytesDown: totals.down, durationMs: deps.now() - started })
          .catch(deps.onError);
      });
      inner.emit("connection", secure);
      return Promise.resolve();
    },
    close() {
      inner.close();
    },
  };
}

function decoderFor(encoding: string): Transform | undefined | "unsupported" {
  switch (encoding.trim().toLowerCase()) {
    case "":
    case "identity":
      return undefined;
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    default:
      return "unsupported";
  }
}

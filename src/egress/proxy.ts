import http from "node:http";
import type net from "node:net";
import os from "node:os";
import type { Duplex } from "node:stream";
import type { AuditSink } from "../core/index.js";
import { createBudgetLedger } from "./budgets.js";
import { createEgressDecider, type EgressAllowed, type EgressDecision } from "./decide.js";
import { EgressError, type EgressErrorCode } from "./errors.js";
import { endToEndHeaders, hostHeader } from "./headers.js";
import { printable } from "./host.js";
import { createInterceptor, type CredentialSource } from "./intercept.js";
import { EgressRecorder, type EgressTool } from "./record.js";
import { systemResolver, type Resolver } from "./resolve.js";
import type { EgressPolicy } from "./schema.js";
import type { ListenAddress } from "./ssrf.js";
import { createLocalCa, type LocalCa } from "./tls-intercept.js";
import { dialChecked, refusal, relayRequestBody, spliceSockets, startWatch, writeRawRefusal } from "./tunnel.js";

/** Everything the proxy needs; dependencies are passed in, never global. */
export interface EgressProxyOptions {
  /** The validated `egress:` section. */
  readonly policy: EgressPolicy;
  /** HMAC key (>= 32 bytes) that run tokens are minted with (see `mintRunToken`). */
  readonly tokenKey: Uint8Array;
  /** Where decisions and outcomes are recorded; a failing decision append refuses the request. */
  readonly audit: AuditSink;
  /** Name lookup; defaults to `dns.lookup` with `all: true`. */
  readonly resolver?: Resolver;
  /** Supplies credential values for hosts the policy names (the secrets module plugs in here). */
  readonly credentialFor?: CredentialSource;
  /** Extra CAs trusted when verifying intercepted upstreams (private PKI, tests). */
  readonly upstreamCa?: string | readonly string[];
  /**
   * Other spellings of an injected value to scrub from responses besides the exact value (the
   * CLI passes the secrets module's `variantsOf`: base64 at every alignment, hex, URL, JSON, HTML).
   * Each form is replaced byte for byte, so binary bodies stay intact.
   */
  readonly scrubVariants?: (value: string) => readonly string[];
  /** The local CA for interception; generated at start when the policy names credentials. */
  readonly localCa?: LocalCa;
  readonly now?: () => number;
  /** Operator log for errors that happen after a decision (an outcome the sink refused, …). */
  readonly onError?: (error: unknown) => void;
}

/** A running (or ready to run) egress proxy. */
export interface EgressProxy {
  /** Starts listening (`127.0.0.1:3128` by default, or the policy's `listen`). */
  listen(address?: { host: string; port: number }): Promise<ListenAddress>;
  /** Stops accepting and closes every open connection and tunnel. */
  close(): Promise<void>;
  /** PEM of the local CA a sandbox must trust, when credentials are configured. */
  readonly caCertPem: string | undefined;
  /** Where the proxy listens (the addresses it refuses to dial, with their port). */
  selfAddresses(): readonly ListenAddress[];
}

/**
 * Creates the egress proxy: an HTTP forward proxy and HTTPS CONNECT tunnels on `node:http`,
 * default deny. Every request goes through the decider (identity, allow-list, budgets, SSRF
 * guard on every resolved address), is recorded before any byte goes out, and is dialled only
 * at a checked address. CONNECT to a host with a credential rule is intercepted with the local
 * CA; all other HTTPS stays an opaque tunnel.
 *
 * @example
 * const proxy = await createEgressProxy({ policy, tokenKey, audit });
 * await proxy.listen({ host: "127.0.0.1", port: 3128 });
 */
export async function createEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const now = options.now ?? Date.now;
  const policy = options.policy;
  const onError = options.onError ?? (() => undefined);
  const budgets = createBudgetLedger(policy.budgets, now);
  let self: ListenAddress[] = [];
  const decider = createEgressDecider({
    policy,
    tokenKey: options.tokenKey,
    resolver: options.resolver ?? systemResolver,
    budgets,
    self: () => self,
    now,
  });
  const recorder = new EgressRecorder(options.audit, now);
  const credentialHosts = [...new Set(Object.values(policy.profiles).flatMap((p) => p.credentials.map((c) => c.host.toLowerCase().replace(/\.$/, ""))))];
  let ca = options.localCa;
  if (!ca && credentialHosts.length > 0) ca = await createLocalCa({ hosts: credentialHosts, now });
  if (credentialHosts.length > 0 && !options.credentialFor) {
    throw new EgressError("egress-config-invalid", "the policy names credentials but no credential source was given");
  }
  const sockets = new Set<Duplex>();
  const track = (socket: Duplex): void => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  };

  const serverOptions: http.ServerOptions = {
    maxHeaderSize: policy.maxHeaderBytes,
    headersTimeout: policy.timeouts.headersMs,
    requestTimeout: policy.timeouts.totalMs,
    connectionsCheckingInterval: Math.min(1_000, policy.timeouts.headersMs),
    keepAliveTimeout: 5_000,
    requireHostHeader: false,
  };

  const interceptor = ca
    ? createInterceptor({
        ca,
        serverOptions,
        credentialFor: options.credentialFor ?? (() => Promise.reject(new Error("no credential source"))),
        budgets,
        recorder,
        policy,
        upstreamCa: options.upstreamCa,
        scrubVariants: options.scrubVariants,
        now,
        onError,
        track,
      })
    : undefined;

  async function record(tool: EgressTool, decision: EgressDecision, request: { method?: string; path?: string; authority: string }): Promise<string | undefined> {
    try {
      return await recorder.decision(tool, decision, request);
    } catch (error) {
      onError(error);
      return undefined;
    }
  }

  function outcome(tool: EgressTool, action: string, decision: EgressDecision, result: Parameters<EgressRecorder["outcome"]>[3]): void {
    recorder.outcome(tool, action, decision, result).catch(onError);
  }

  async function handleConnect(req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const started = now();
    const authority = req.url ?? "";
    const decision = await decider.decide({ kind: "connect", authority, proxyAuthorization: req.headers["proxy-authorization"] });
    if (!decision.allow) {
      const action = await record("egress.connect", decision, { method: "CONNECT", authority });
      if (action === undefined) writeRawRefusal(client, "egress-audit-unavailable", "the audit log could not record this request, so it is refused");
      else writeRawRefusal(client, decision.code, decision.reason);
      return;
    }
    // The tunnel slot is released exactly once, whatever happens from here on: a throw anywhere
    // below (audit, CA, TLS setup, relay) must not leak the agent's concurrent-tunnel budget.
    const release = onceOnly(decision.releaseTunnel);
    const allowed: EgressAllowed = { ...decision, releaseTunnel: release };
    let handedOver = false;
    try {
      const action = await record("egress.connect", allowed, { method: "CONNECT", authority });
      if (action === undefined) {
        writeRawRefusal(client, "egress-audit-unavailable", "the audit log could not record this request, so it is refused");
        return;
      }
      if (allowed.credential && interceptor) {
        // The interceptor releases the slot when the intercepted connection closes.
        await interceptor.intercept(client as net.Socket, head, allowed, action, started);
        handedOver = true;
        return;
      }
      await tunnel(client as net.Socket, head, allowed, action, started);
    } finally {
      if (!handedOver) release();
    }
  }

  async function tunnel(client: net.Socket, head: Buffer, decision: EgressAllowed, action: string, started: number): Promise<void> {
    const release = decision.releaseTunnel ?? (() => undefined);
    let upstream: { socket: net.Socket; address: string };
    try {
      upstream = await dialChecked(decision.addresses, decision.target.port, policy.timeouts.connectMs);
    } catch (error) {
      release();
      const e = error instanceof EgressError ? error : new EgressError("egress-connect-failed", String(error));
      writeRawRefusal(client, e.code, `${decision.target.hostText}:${decision.target.port}: ${e.message}`);
      outcome("egress.connect", action, decision, { status: "error", bytesUp: 0, bytesDown: 0, durationMs: now() - started, error: { code: e.code, message: e.message } });
      return;
    }
    track(upstream.socket);
    if (client.destroyed) {
      upstream.socket.destroy();
      release();
      return;
    }
    // Per-chunk counting only when a byte budget may have to cut the tunnel mid-stream.
    const perChunk = budgets.limitsBytes;
    const watch = startWatch({
      idleMs: policy.timeouts.idleMs,
      totalMs: policy.timeouts.totalMs,
      charge: (direction, bytes) => budgets.addBytes(decision.identity, direction, bytes)?.reason,
      onCut: () => {
        client.destroy();
        upstream.socket.destroy();
      },
      ...(perChunk ? {} : { idleSocket: client }),
    });
    client.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0 && (!perChunk || watch.count("up", head.length))) upstream.socket.write(head);
    await spliceSockets(client, upstream.socket, watch, perChunk);
    watch.stop();
    if (!perChunk) {
      // The upstream socket is ours alone: what it wrote went up, what it read came down.
      watch.settle("up", upstream.socket.bytesWritten);
      watch.settle("down", upstream.socket.bytesRead);
    }
    release();
    const cut = watch.cutBy;
    outcome("egress.connect", action, decision, {
      status: cut ? "error" : "ok",
      address: upstream.address,
      bytesUp: watch.bytesUp,
      bytesDown: watch.bytesDown,
      durationMs: now() - started,
      ...(cut ? { error: cut } : {}),
    });
  }

  function refuseHttp(res: http.ServerResponse, code: EgressErrorCode, reason: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const r = refusal(code, reason);
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  }

  async function handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = now();
    const url = req.url ?? "";
    const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
    if (scheme !== "http") {
      const why =
        scheme === "https"
          ? "send HTTPS through a CONNECT tunnel (use the proxy as `HTTPS_PROXY`)"
          : scheme === undefined
            ? "this is a proxy: the request target must be an absolute `http://` URL"
            : `scheme \`${printable(scheme)}\` is not proxied`;
      req.resume();
      refuseHttp(res, "egress-bad-request", why);
      return;
    }
    const rest = url.slice("http://".length);
    const end = rest.search(/[/?#]/);
    const authority = end === -1 ? rest : rest.slice(0, end);
    let path = end === -1 ? "/" : rest.slice(end);
    if (path.startsWith("?")) path = `/${path}`;
    const hash = path.indexOf("#");
    if (hash !== -1) path = path.slice(0, hash);
    if (authority.includes("@")) {
      req.resume();
      refuseHttp(res, "egress-host-invalid", "user information in the URL (`user@host`) is refused");
      return;
    }
    const decision = await decider.decide({ kind: "http", authority, defaultPort: 80, proxyAuthorization: req.headers["proxy-authorization"] });
    const allowedDecision: EgressDecision =
      decision.allow && decision.credential
        ? {
            allow: false,
            code: "egress-credential-needs-tls",
            reason: `\`${decision.target.hostText}\` gets a credential, which is only added over HTTPS; use https://`,
            rule: "egress.credential.needs-tls",
            identity: decision.identity,
            target: decision.target,
          }
        : decision;
    const action = await record("egress.http", allowedDecision, { method: req.method ?? "GET", path, authority });
    if (action === undefined) {
      req.resume();
      refuseHttp(res, "egress-audit-unavailable", "the audit log could not record this request, so it is refused");
      return;
    }
    if (!allowedDecision.allow) {
      req.resume();
      refuseHttp(res, allowedDecision.code, allowedDecision.reason);
      return;
    }
    const d = allowedDecision;
    let upstream: { socket: net.Socket; address: string };
    try {
      upstream = await dialChecked(d.addresses, d.target.port, policy.timeouts.connectMs);
    } catch (error) {
      const e = error instanceof EgressError ? error : new EgressError("egress-connect-failed", String(error));
      req.resume();
      refuseHttp(res, e.code, `${d.target.hostText}:${d.target.port}: ${e.message}`);
      outcome("egress.http", action, d, { status: "error", bytesUp: 0, bytesDown: 0, durationMs: now() - started, error: { code: e.code, message: e.message } });
      return;
    }
    track(upstream.socket);
    const headers = endToEndHeaders(req.rawHeaders, req.headers);
    headers.host = hostHeader(d.target.hostText, d.target.port, 80, d.target.host.kind === "ip" && d.target.hostText.includes(":"));
    headers.connection = "close";
    let status: number | undefined;
    const watch = startWatch({
      idleMs: policy.timeouts.idleMs,
      totalMs: policy.timeouts.totalMs,
      charge: (direction, bytes) => budgets.addBytes(d.identity, direction, bytes)?.reason,
      onCut: (code, message) => {
        upstream.socket.destroy();
        if (!res.headersSent) refuseHttp(res, code, message);
        else res.destroy();
      },
    });
    await new Promise<void>((resolve) => {
      const upstreamReq = http.request({
        createConnection: () => upstream.socket,
        method: req.method,
        path,
        headers,
        setHost: false,
      });
      upstreamReq.on("error", (error) => {
        if (!res.headersSent) refuseHttp(res, "egress-connect-failed", `upstream failed: ${error.message}`);
        else res.destroy();
        resolve();
      });
      upstreamReq.on("response", (upstreamRes) => {
        status = upstreamRes.statusCode ?? 502;
        res.writeHead(status, endToEndHeaders(upstreamRes.rawHeaders, upstreamRes.headers));
        upstreamRes.on("data", (chunk: Buffer) => {
          if (!watch.count("down", chunk.length)) upstreamRes.destroy();
        });
        upstreamRes.pipe(res);
        upstreamRes.on("error", () => res.destroy());
        upstreamRes.on("close", resolve);
      });
      relayRequestBody(req, upstreamReq, res, watch, resolve);
    });
    watch.stop();
    const cut = watch.cutBy;
    outcome("egress.http", action, d, {
      status: cut || status === undefined ? "error" : "ok",
      address: upstream.address,
      bytesUp: watch.bytesUp,
      bytesDown: watch.bytesDown,
      durationMs: now() - started,
      ...(status !== undefined ? { httpStatus: status } : {}),
      ...(cut ? { error: cut } : {}),
    });
  }

  const server = http.createServer(serverOptions);
  server.on("connection", (socket: net.Socket) => {
    track(socket);
    socket.on("error", () => undefined);
  });
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    handleHttp(req, res).catch((error: unknown) => {
      onError(error);
      refuseHttp(res, "egress-check-error", "the proxy failed while handling this request, so it is refused");
    });
  });
  server.on("connect", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => undefined);
    handleConnect(req, socket, head).catch((error: unknown) => {
      onError(error);
      writeRawRefusal(socket, "egress-check-error", "the proxy failed while handling this tunnel, so it is refused");
    });
  });
  server.on("upgrade", (_req: http.IncomingMessage, socket: Duplex) => {
    socket.on("error", () => undefined);
    writeRawRefusal(socket, "egress-bad-request", "protocol upgrades are not proxied over plain HTTP; use a CONNECT tunnel (wss://)");
  });
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = error.code === "HPE_HEADER_OVERFLOW" ? "egress-headers-too-large" : "egress-bad-request";
    const why =
      code === "egress-headers-too-large"
        ? `the request head is larger than ${policy.maxHeaderBytes} bytes`
        : error.code === "ERR_HTTP_REQUEST_TIMEOUT"
          ? "the request head did not arrive in time"
          : `malformed request (${printable(error.code ?? "parse error")})`;
    writeRawRefusal(socket, code, why);
  });

  return {
    get caCertPem() {
      return ca?.certPem;
    },
    selfAddresses: () => self,
    async listen(address) {
      const target = address ?? parseListen(policy.listen ?? "127.0.0.1:3128");
      await new Promise<void>((resolve, reject) => {
        const fail = (error: Error): void => reject(new EgressError("egress-listen-failed", `cannot listen on ${target.host}:${target.port}: ${error.message}`, { cause: error }));
        server.once("error", fail);
        server.listen(target.port, target.host, () => {
          server.off("error", fail);
          resolve();
        });
      });
      const bound = server.address() as net.AddressInfo;
      self = selfAddressesFor(bound.address, bound.port);
      return { address: bound.address, port: bound.port };
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
        interceptor?.close();
      });
    },
  };
}

/** Wraps a release function so that calling it more than once is harmless. */
function onceOnly(release: (() => void) | undefined): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release?.();
  };
}

function parseListen(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(":");
  const host = text.slice(0, colon).replace(/^\[|\]$/g, "");
  const port = Number(text.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new EgressError("egress-config-invalid", `listen address \`${printable(text)}\` is not ADDRESS:PORT`);
  }
  return { host, port };
}

/** The addresses a listening socket answers on: all interfaces when bound to 0.0.0.0 or ::. */
function selfAddressesFor(address: string, port: number): ListenAddress[] {
  if (address !== "0.0.0.0" && address !== "::") return [{ address, port }];
  const all: ListenAddress[] = [{ address: "0.0.0.0", port }, { address: "::", port }];
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) all.push({ address: info.address.replace(/%.*$/, ""), port });
  }
  return all;
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { z } from "zod";
import { ApprovalError, verifyLink, type ApprovalErrorCode, type Approvals, type Approver, type ApproverDirectory } from "../approvals/index.js";
import { ServerError } from "./errors.js";
import { linkConfirmPage, messagePage } from "./html.js";

/** Options for {@link createControlServer}. */
export interface ControlServerOptions {
  readonly approvals: Approvals;
  readonly approvers: ApproverDirectory;
  /** The key that signs webhook links; without it, `/links/…` answers 404. */
  readonly linkKey?: Uint8Array;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8470; 0 picks a free port. */
  readonly port?: number;
  /** Largest request body accepted; default 64 KiB. */
  readonly maxBodyBytes?: number;
  readonly clock?: () => Date;
}

/** A started control-plane server. */
export interface ControlServer {
  /** The base URL it listens on, e.g. `http://127.0.0.1:8470`. */
  readonly url: string;
  close(): Promise<void>;
}

const STATUS_OF: Readonly<Record<ApprovalErrorCode, number>> = {
  "request-unknown": 404,
  "grant-unknown": 404,
  "request-closed": 409,
  "already-answered": 409,
  "grant-revoked": 409,
  "request-expired": 410,
  "link-expired": 410,
  "self-approval": 403,
  "approver-unknown": 403,
  "approver-not-allowed": 403,
  "link-invalid": 403,
  "answer-invalid": 400,
  "grant-invalid": 400,
  "store-unavailable": 503,
  "audit-unavailable": 503,
  "link-key-invalid": 500,
  "config-invalid": 500,
  "notify-failed": 500,
};

/** The body of `POST /v1/approvals/:id/answers`; the approver is the token's identity, never a body field. */
const AnswerBody = z.strictObject({
  verdict: z.enum(["approve", "deny"]),
  reason: z.string().max(1000).optional(),
  grant: z
    .strictObject({ ttlMs: z.int().positive(), maxUses: z.int().min(1).max(1_000_000).optional(), args: z.unknown().optional() })
    .optional(),
});

const STATUSES = ["pending", "approved", "denied", "expired", "used"] as const;

/** Whether `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  if (host === "localhost") return true;
  const bare = host.replace(/^\[|\]$/g, "");
  if (isIP(bare) === 4) return bare.startsWith("127.");
  if (isIP(bare) === 6) return bare === "::1" || /^::ffff:127\./i.test(bare);
  return false;
}

/**
 * Starts `gatehouse serve`'s control-plane HTTP server (node:http): the JSON API for approval
 * requests, answers and grants, and the pages signed webhook links open.
 *
 * Every `/v1/…` call needs `Authorization: Bearer <token>`; the token's SHA-256 must be an
 * approver's `tokenSha256` in the policy, and the answer is recorded as that approver (a body
 * cannot name someone else). The server refuses to start on a non-loopback address when no
 * approver has a token. Bodies over `maxBodyBytes` get 413 before they are read in full.
 *
 * @example
 * const server = await createControlServer({ approvals, approvers, linkKey, port: 8470 });
 */
export async function createControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 8470;
  const maxBodyBytes = options.maxBodyBytes ?? 64 * 1024;
  const clock = options.clock ?? (() => new Date());
  if (!Number.isSafeInteger(port) || port < 0 || port > 65535) throw new ServerError("server-option-invalid", `--port \`${port}\` is not a port number`);
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1) throw new ServerError("server-option-invalid", "maxBodyBytes must be a positive integer");
  if (!isLoopbackHost(host) && !options.approvers.hasTokens()) {
    throw new ServerError(
      "server-unauthenticated-public",
      `refusing to listen on \`${host}\`: no approver has a \`tokenSha256\` in the policy, so the API would be unauthenticated; add tokens (\`gatehouse approvals token\`) or listen on 127.0.0.1`,
    );
  }
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof ApprovalError) return sendError(res, STATUS_OF[error.code], error.code, error.message);
      if (error instanceof URIError) return sendError(res, 400, "http-bad-request", "the path is not valid percent-encoding");
      sendError(res, 500, "http-internal", `internal error: ${error instanceof Error ? error.message : String(error)}`);
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const path = url.pathname;
    const method = req.method ?? "GET";
    if (path === "/healthz") return method === "GET" ? sendJson(res, 200, { ok: true }) : notAllowed(res, "GET");
    const link = /^\/links\/([A-Za-z0-9_.-]{1,2048})$/.exec(path);
    if (link) return handleLink(req, res, method, link[1] as string);
    if (!path.startsWith("/v1/")) return sendError(res, 404, "http-not-found", `no such endpoint \`${path}\``);

    const approver = authenticate(req);
    if (!approver) {
      res.setHeader("www-authenticate", 'Bearer realm="gatehouse"');
      await drain(req);
      return sendError(res, 401, "http-unauthorized", "missing or unknown bearer token; send `Authorization: Bearer <token>`");
    }

    if (path === "/v1/approvals") {
      if (method !== "GET") return notAllowed(res, "GET");
      const status = url.searchParams.get("status");
      if (status !== null && !(STATUSES as readonly string[]).includes(status)) {
        return sendError(res, 400, "http-bad-request", `status \`${status}\` is not one of ${STATUSES.join(", ")}`);
      }
      const requests = await options.approvals.list(status === null ? {} : { status: status as (typeof STATUSES)[number] });
      return sendJson(res, 200, { requests });
    }
    const one = /^\/v1\/approvals\/([^/]{1,200})$/.exec(path);
    if (one) {
      if (method !== "GET") return notAllowed(res, "GET");
      const request = await options.approvals.get(decodeURIComponent(one[1] as string));
      return request ? sendJson(res, 200, { request }) : sendError(res, 404, "request-unknown", "no approval request has this id");
    }
    const answer = /^\/v1\/approvals\/([^/]{1,200})\/answers$/.exec(path);
    if (answer) {
      if (method !== "POST") return notAllowed(res, "POST");
      const body = await readJson(req, res);
      if (body === undefined) return;
      const parsed = AnswerBody.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return sendError(res, 400, "answer-invalid", `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`);
      }
      const { verdict, reason, grant } = parsed.data;
      const request = await options.approvals.answer(decodeURIComponent(answer[1] as string), {
        approver: approver.name,
        verdict,
        ...(reason === undefined ? {} : { reason }),
        ...(grant === undefined ? {} : { grant }),
      });
      return sendJson(res, 200, { request });
    }
    if (path === "/v1/grants") {
      if (method !== "GET") return notAllowed(res, "GET");
      const active = url.searchParams.get("active");
      return sendJson(res, 200, { grants: await options.approvals.grants.list(active === "true" ? { active: true } : {}) });
    }
    const revoke = /^\/v1\/grants\/([^/]{1,200})\/revoke$/.exec(path);
    if (revoke) {
      if (method !== "POST") return notAllowed(res, "POST");
      await drain(req);
      return sendJson(res, 200, { grant: await options.approvals.grants.revoke(decodeURIComponent(revoke[1] as string), approver.name) });
    }
    return sendError(res, 404, "http-not-found", `no such endpoint \`${path}\``);
  }

  async function handleLink(req: IncomingMessage, res: ServerResponse, method: string, token: string): Promise<void> {
    if (!options.linkKey) return sendHtml(res, 404, messagePage("Not found", "approval links are not enabled on this server"));
    if (method !== "GET" && method !== "POST") return notAllowed(res, "GET, POST");
    let claim;
    try {
      claim = verifyLink(options.linkKey, token, clock().getTime());
    } catch (error) {
      await drain(req);
      if (error instanceof ApprovalError) return sendHtml(res, STATUS_OF[error.code], messagePage("Link refused", error.message));
      throw error;
    }
    const request = await options.approvals.get(claim.requestId);
    if (!request) return sendHtml(res, 404, messagePage("Not found", "the request this link answers no longer exists"));
    // Every approver's link goes into one shared message: whoever can read it could click
    // "approve as alice" and then "as bob". So links never approve a request that needs several
    // distinct people; each of them answers with their own token instead.
    if (claim.verdict === "approve" && request.required > 1) {
      return sendHtml(
        res,
        403,
        messagePage("Link refused", `request ${request.id} needs ${request.required} distinct approvers; approve it with your own token: gatehouse approvals approve ${request.id}`),
      );
    }
    if (method === "GET") {
      // GET only shows the request: chat apps fetch links to preview them, and that must answer nothing.
      return sendHtml(res, 200, linkConfirmPage(request, claim.approver, claim.verdict, `/links/${token}`));
    }
    const text = await readBody(req, res);
    if (text === undefined) return;
    const reason = new URLSearchParams(text).get("reason") ?? "";
    try {
      const answered = await options.approvals.answer(claim.requestId, {
        approver: claim.approver,
        verdict: claim.verdict,
        ...(reason.trim() === "" ? {} : { reason: reason.slice(0, 1000) }),
      });
      return sendHtml(res, 200, messagePage("Answer recorded", `${claim.approver} ${claim.verdict === "approve" ? "approved" : "denied"} request ${answered.id}; it is now ${answered.status}`));
    } catch (error) {
      if (error instanceof ApprovalError) return sendHtml(res, STATUS_OF[error.code], messagePage("Answer refused", error.message));
      throw error;
    }
  }

  function authenticate(req: IncomingMessage): Approver | undefined {
    const header = req.headers.authorization;
    if (typeof header !== "string") return undefined;
    const match = /^Bearer ([\x21-\x7e]{1,1024})$/.exec(header);
    return match ? options.approvers.authenticate(match[1] as string) : undefined;
  }

  async function readBody(req: IncomingMessage, res: ServerResponse): Promise<string | undefined> {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (Number.isFinite(declared) && declared > maxBodyBytes) {
      sendError(res, 413, "http-body-too-large", `the body is larger than ${maxBodyBytes} bytes`, true);
      req.resume();
      return undefined;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) {
        sendError(res, 413, "http-body-too-large", `the body is larger than ${maxBodyBytes} bytes`, true);
        req.destroy();
        return undefined;
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  }

  async function readJson(req: IncomingMessage, res: ServerResponse): Promise<unknown> {
    const type = (req.headers["content-type"] ?? "").split(";")[0]?.trim().toLowerCase();
    if (type !== "application/json") {
      await drain(req);
      sendError(res, 415, "http-unsupported-media-type", "send the body as `Content-Type: application/json`");
      return undefined;
    }
    const text = await readBody(req, res);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      sendError(res, 400, "http-bad-json", `the body is not JSON: ${error instanceof Error ? error.message : String(error)}`);
      return undefined;
    }
  }

  async function drain(req: IncomingMessage): Promise<void> {
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.destroy();
        return;
      }
    }
  }

  function sendError(res: ServerResponse, status: number, code: string, message: string, close = false): void {
    if (close) res.setHeader("connection", "close");
    sendJson(res, status, { error: { code, message } });
  }

  function notAllowed(res: ServerResponse, allow: string): void {
    res.setHeader("allow", allow);
    sendError(res, 405, "http-method-not-allowed", `use ${allow}`);
  }

  const wrapped = server;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error) => reject(new ServerError("server-listen-failed", `cannot listen on ${host}:${port}: ${error.message}`, undefined, { cause: error }));
    wrapped.once("error", onError);
    wrapped.listen(port, host, () => {
      wrapped.off("error", onError);
      resolve();
    });
  });
  const address = wrapped.address();
  const actualPort = typeof address === "object" && address !== null ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${actualPort}`,
    close: () => closeServer(wrapped),
  };
}

/** Maps an ApprovalError to its HTTP status (exported for the server's error handler and tests). */
export function statusOfApprovalError(code: ApprovalErrorCode): number {
  return STATUS_OF[code];
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()));
    server.closeAllConnections();
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendHtml(res: ServerResponse, status: number, html: string): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    // The answer buttons must not be framed by another site (clickjacking) nor run any script.
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
    "content-length": Buffer.byteLength(html),
  });
  res.end(html);
}

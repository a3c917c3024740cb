import type { ApprovalRequest, ApprovalStatus, Grant, GrantInput } from "../approvals/index.js";
import { ServerError } from "./errors.js";

/** Talks to a running `gatehouse serve` as the approver the token belongs to. */
export interface ControlClient {
  list(status?: ApprovalStatus): Promise<ApprovalRequest[]>;
  get(id: string): Promise<ApprovalRequest>;
  answer(id: string, answer: { verdict: "approve" | "deny"; reason?: string; grant?: GrantInput }): Promise<ApprovalRequest>;
  grants(active?: boolean): Promise<Grant[]>;
  revoke(id: string): Promise<Grant>;
}

/**
 * A client for the control-plane JSON API. Errors are ServerError with the server's `code`
 * (e.g. `self-approval`, `request-unknown`) and the HTTP status.
 *
 * @example
 * const client = createControlClient({ url: "http://127.0.0.1:8470", token: process.env.GATEHOUSE_TOKEN! });
 * await client.answer(id, { verdict: "approve", reason: "checked the order" });
 */
export function createControlClient(options: { readonly url: string; readonly token: string; readonly timeoutMs?: number }): ControlClient {
  const base = options.url.replace(/\/+$/, "");
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${options.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
        redirect: "error",
      });
    } catch (error) {
      throw new ServerError("http-unavailable", `cannot reach ${base}: ${error instanceof Error ? error.message : String(error)}; is \`gatehouse serve\` running?`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new ServerError("http-bad-json", `${base}${path} answered HTTP ${response.status} with a body that is not JSON`, response.status);
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } }).error;
      throw new ServerError(error?.code ?? "http-internal", error?.message ?? `HTTP ${response.status}`, response.status);
    }
    return parsed as T;
  }
  const enc = encodeURIComponent;
  return {
    list: async (status) => (await call<{ requests: ApprovalRequest[] }>("GET", `/v1/approvals${status ? `?status=${enc(status)}` : ""}`)).requests,
    get: async (id) => (await call<{ request: ApprovalRequest }>("GET", `/v1/approvals/${enc(id)}`)).request,
    answer: async (id, answer) => (await call<{ request: ApprovalRequest }>("POST", `/v1/approvals/${enc(id)}/answers`, answer)).request,
    grants: async (active) => (await call<{ grants: Grant[] }>("GET", `/v1/grants${active ? "?active=true" : ""}`)).grants,
    revoke: async (id) => (await call<{ grant: Grant }>("POST", `/v1/grants/${enc(id)}/revoke`)).grant,
  };
}

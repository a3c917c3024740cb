/** Stable names for why the control-plane server refused to start or a request (append-only; docs/approvals.md). */
export const SERVER_ERROR_CODES = [
  "server-unauthenticated-public",
  "server-listen-failed",
  "server-option-invalid",
  "http-unauthorized",
  "http-not-found",
  "http-method-not-allowed",
  "http-body-too-large",
  "http-unsupported-media-type",
  "http-bad-json",
  "http-bad-request",
  "http-internal",
  "http-unavailable",
] as const;

export type ServerErrorCode = (typeof SERVER_ERROR_CODES)[number];

/**
 * The server could not start, or a client call failed; `status` is the HTTP status when there was
 * one. `code` is a ServerErrorCode, or (for a client call the server refused) the server's code,
 * e.g. an approvals code such as `self-approval`.
 */
export class ServerError extends Error {
  readonly code: string;
  readonly status: number | undefined;

  constructor(code: string, message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ServerError";
    this.code = code;
    this.status = status;
  }
}

/**
 * Stable names for everything the egress proxy can refuse or fail at.
 *
 * INVARIANT: append-only, never reused; they appear in audit logs, in the `X-Gatehouse-Error`
 * header and in docs/egress.md ("Error codes").
 */
export const EGRESS_ERROR_CODES = [
  "egress-bad-request",
  "egress-host-invalid",
  "egress-port-invalid",
  "egress-auth-required",
  "egress-auth-invalid",
  "egress-not-allowed",
  "egress-address-forbidden",
  "egress-resolve-failed",
  "egress-budget-exceeded",
  "egress-connect-failed",
  "egress-connect-timeout",
  "egress-idle-timeout",
  "egress-total-timeout",
  "egress-headers-too-large",
  "egress-credential-unavailable",
  "egress-credential-needs-tls",
  "egress-misdirected",
  "egress-upstream-tls",
  "egress-check-error",
  "egress-audit-unavailable",
  "egress-config-invalid",
  "egress-ca-failed",
  "egress-listen-failed",
] as const;

/** One of {@link EGRESS_ERROR_CODES}. */
export type EgressErrorCode = (typeof EGRESS_ERROR_CODES)[number];

/**
 * The one error class of the egress module. `message` is short and safe to show to the agent;
 * `detail` is for the operator (audit log) and may name addresses and rules.
 *
 * @example
 * throw new EgressError("egress-host-invalid", "host `a..b` is not a valid name");
 */
export class EgressError extends Error {
  readonly code: EgressErrorCode;

  constructor(code: EgressErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EgressError";
    this.code = code;
  }
}

/** The HTTP status a refusal with this code is answered with. */
export function statusForCode(code: EgressErrorCode): number {
  switch (code) {
    case "egress-bad-request":
    case "egress-host-invalid":
    case "egress-port-invalid":
      return 400;
    case "egress-auth-required":
    case "egress-auth-invalid":
      return 407;
    case "egress-not-allowed":
    case "egress-address-forbidden":
    case "egress-credential-needs-tls":
      return 403;
    case "egress-misdirected":
      return 421;
    case "egress-headers-too-large":
      return 431;
    case "egress-budget-exceeded":
      return 429;
    case "egress-resolve-failed":
    case "egress-connect-failed":
    case "egress-upstream-tls":
    case "egress-credential-unavailable":
      return 502;
    case "egress-connect-timeout":
    case "egress-idle-timeout":
    case "egress-total-timeout":
      return 504;
    case "egress-audit-unavailable":
      return 503;
    case "egress-check-error":
    case "egress-config-invalid":
    case "egress-ca-failed":
    case "egress-listen-failed":
      return 500;
  }
}

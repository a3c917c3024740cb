/**
 * Stable names for secret problems.
 *
 * INVARIANT: append-only, never reused; they end up in audit logs and deny reasons forever.
 * Every code is listed in docs/secrets.md (## Error codes).
 */
export const SECRET_ERROR_CODES = [
  "secrets-config-invalid",
  "secret-unknown",
  "secret-not-bound",
  "secret-missing",
  "secret-file-permissions",
  "secret-file-unreadable",
  "secret-too-short",
  "secret-value-invalid",
  "secret-provider-unavailable",
  "secret-token-invalid",
  "secret-forbidden",
  "token-mint-failed",
  "scrub-input-invalid",
] as const;

export type SecretErrorCode = (typeof SECRET_ERROR_CODES)[number];

/**
 * A secret could not be resolved, bound or used. The message names the handle and the source
 * (an environment variable name, a file path, a Vault path), never the value: it is shown to
 * operators and, scrubbed and shortened, to the agent as the deny reason.
 */
export class SecretError extends Error {
  readonly code: SecretErrorCode;
  /** The handle the problem is about, when there is one. */
  readonly handle: string | undefined;
  /** What to do about it. */
  readonly help: string | undefined;

  constructor(code: SecretErrorCode, message: string, options: { handle?: string; help?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "SecretError";
    this.code = code;
    this.handle = options.handle;
    this.help = options.help;
  }
}

/**
 * Stable names for why the sandbox refused to run a command (append-only; documented in
 * docs/sandbox.md). A refusal always means nothing ran, except `git-check-failed`: the command
 * ran, and the check of the git directories after it could not finish (the run counts as failed).
 */
export const SANDBOX_ERROR_CODES = [
  "command-missing",
  "profile-unknown",
  "profile-invalid",
  "policy-unreadable",
  "workdir-invalid",
  "workdir-out-of-bounds",
  "cwd-out-of-bounds",
  "path-invalid",
  "protected-path-symlink",
  "workdir-too-large",
  "isolation-unavailable",
  "arch-unsupported",
  "limit-unenforceable",
  "proxy-unavailable",
  "setup-failed",
  "audit-unavailable",
  "denied-scan-too-large",
  "widening-invalid",
  "widening-unapproved",
  "protected-path-unpinnable",
  "git-check-failed",
] as const;

/** One of {@link SANDBOX_ERROR_CODES}. */
export type SandboxErrorCode = (typeof SANDBOX_ERROR_CODES)[number];

/**
 * Raised before anything runs: bad input, a host that cannot isolate, a sandbox that could not be
 * set up. Never caught to fall back to an unsandboxed run (no escape hatch).
 */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode;
  /** What to do about it, for the person reading. */
  readonly help?: string;

  constructor(code: SandboxErrorCode, message: string, help?: string) {
    super(message);
    this.name = "SandboxError";
    this.code = code;
    if (help !== undefined) this.help = help;
  }
}

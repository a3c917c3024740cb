/**
 * Why the Claude Code hook could not judge an event. Every one of them ends in a deny.
 *
 * INVARIANT: append-only; codes stay in audit logs and docs/claude-code.md forever.
 */
export const CLAUDE_CODE_ERROR_CODES = [
  "hook-input-invalid-json",
  "hook-input-too-large",
  "hook-input-invalid",
  "hook-event-unknown",
  "hook-internal-error",
  "hook-config-invalid",
  "hook-policy-unavailable",
  "hook-audit-unavailable",
  "hook-server-unavailable",
  "settings-invalid",
  "settings-unwritable",
  "hook-timed-out",
] as const;

export type ClaudeCodeErrorCode = (typeof CLAUDE_CODE_ERROR_CODES)[number];

/** The one error class of the Claude Code integration; `help` says what to do. */
export class ClaudeCodeError extends Error {
  readonly code: ClaudeCodeErrorCode;
  readonly help: string | undefined;

  constructor(code: ClaudeCodeErrorCode, message: string, help?: string) {
    super(message);
    this.name = "ClaudeCodeError";
    this.code = code;
    this.help = help;
  }
}

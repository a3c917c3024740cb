/**
 * Why the MCP gateway refused something or could not go on.
 *
 * INVARIANT: append-only; every code is documented in docs/mcp.md `## Error codes`.
 */
export const MCP_ERROR_CODES = [
  "mcp-config-invalid",
  "mcp-upstream-unreachable",
  "mcp-upstream-down",
  "mcp-upstream-invalid",
  "mcp-tool-name-invalid",
  "mcp-tool-unknown",
  "mcp-tool-blocked",
  "mcp-pins-invalid",
  "mcp-pin-unknown",
  "mcp-message-too-large",
  "mcp-message-invalid",
  "mcp-output-withheld",
  "mcp-pin-mismatch",
  "mcp-client-request-refused",
] as const;

export type McpErrorCode = (typeof MCP_ERROR_CODES)[number];

/** The MCP gateway's one error class: a code for programs, a message and a help line for people. */
export class McpGatewayError extends Error {
  readonly code: McpErrorCode;
  readonly help: string | undefined;

  constructor(code: McpErrorCode, message: string, help?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "McpGatewayError";
    this.code = code;
    this.help = help;
  }
}

/** The message of anything thrown, for logs (never a stack). */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

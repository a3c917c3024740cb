import { McpConfigSchema, type McpConfig } from "../../policy/index.js";
import { McpGatewayError } from "./errors.js";

export { NAMESPACE_SEPARATOR, McpServerSchema, McpConfigSchema, CLIENT_REQUEST_KINDS, DEFAULT_CLIENT_REQUESTS_PER_MINUTE } from "../../policy/index.js";
export type { McpServerConfig, McpConfig, ClientRequestKind } from "../../policy/index.js";

/**
 * Validates an `mcp:` section. Throws `McpGatewayError` (`mcp-config-invalid`) listing every
 * problem with its field path.
 *
 * @example
 * const config = parseMcpConfig({ servers: [{ name: "fs", command: "mcp-server-filesystem", args: ["/srv"] }] });
 */
export function parseMcpConfig(value: unknown, where = "mcp"): McpConfig {
  const parsed = McpConfigSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => `${[where, ...issue.path.map(String)].join(".")}: ${issue.message}`);
  throw new McpGatewayError("mcp-config-invalid", `invalid MCP configuration:\n  ${lines.join("\n  ")}`, "fix the fields named above");
}

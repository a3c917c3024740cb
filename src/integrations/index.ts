export { createGatehouse, guardTools } from "./guard.js";
export type {
  Gatehouse,
  GatehouseOptions,
  GuardOptions,
  GuardedResult,
  GuardedTools,
  ToolContext,
  ToolDefinition,
  ToolFunction,
} from "./guard.js";
export {
  startMcpGateway,
  createMcpHttpHandler,
  GuardedStdioServerTransport,
  serveGatewayStdio,
  McpConfigSchema,
  parseMcpConfig,
  createFilePinStore,
  detectPoisoning,
  seedRiskFromAnnotations,
  McpGatewayError,
  MCP_ERROR_CODES,
} from "./mcp/index.js";
export type { McpGateway, McpGatewayOptions, McpApprovals, McpConfig, McpServerConfig, PinStore, PinRow, McpErrorCode } from "./mcp/index.js";

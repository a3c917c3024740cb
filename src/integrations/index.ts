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

export { ClaudeCodeConfigSchema } from "../../policy/index.js";
export type { ClaudeCodeConfig } from "../../policy/index.js";

export { createMemoryAuditLog } from "./memory.js";
export type { MemoryAuditLog } from "./memory.js";

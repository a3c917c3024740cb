export { createControlServer, isLoopbackHost, statusOfApprovalError } from "./server.js";
export type { ControlServer, ControlServerOptions } from "./server.js";
export { createControlClient } from "./client.js";
export type { ControlClient } from "./client.js";
export { ServerError, SERVER_ERROR_CODES } from "./errors.js";
export type { ServerErrorCode } from "./errors.js";

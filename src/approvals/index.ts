export { createApprovals, DEFAULT_APPROVAL_TTL_MS, DEFAULT_MAX_GRANT_TTL_MS } from "./approvals.js";
export type { Approvals, ApprovalsOptions, AnswerInput, GrantInput } from "./approvals.js";
export { createApproverDirectory, tokenDigest } from "./directory.js";
export type { Approver, ApproverDirectory } from "./directory.js";
export { ApprovalError, APPROVAL_ERROR_CODES } from "./errors.js";
export type { ApprovalErrorCode } from "./errors.js";
export { compileGrantArgs } from "./grants.js";
export type { GrantArgsMatcher } from "./grants.js";
export { signLink, verifyLink, readOrCreateLinkKey } from "./links.js";
export type { LinkClaim } from "./links.js";
export {
  ApproversSchema,
  ApproverSchema,
  ApprovalsConfigSchema,
  WebhookConfigSchema,
  DurationSchema,
  APPROVER_ROLES,
  parseDuration,
} from "../policy/index.js";
export type { ApproversConfig, ApproverConfig, ApprovalsConfig, WebhookConfig, ApproverRole } from "../policy/index.js";
export { createWebhookNotifier, slackPayload } from "./webhook.js";
export type { WebhookNotifierOptions } from "./webhook.js";
export type { ApprovalRequest, ApprovalAnswer, ApprovalStatus, Grant, Notifier } from "./types.js";
export { approvalsFromConfig } from "./config.js";
export type { ApprovalsFromConfigOptions } from "./config.js";

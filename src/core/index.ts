export { RISK_CLASSES, ENVIRONMENTS, isEnvironment } from "./risk.js";
export type { Risk, Environment } from "./risk.js";
export type { Action, ActionId } from "./action.js";
export { DECISION_CODES, denyDecision } from "./decision.js";
export type { Decision, DecisionCode, Verdict, ApprovalRef } from "./decision.js";
export { canonicalJson, sha256Hex, actionDigest } from "./canonical.js";
export type { AuditEvent, AuditOutcome, AuditSink, AuditModel, AuditCost, AuditApproval } from "./audit.js";
export { stop, proceed } from "./check.js";
export type { Check, CheckContext, CheckOutcome } from "./check.js";

/**
 * Gatehouse: a security layer between AI agents and everything they can touch.
 *
 * @example
 * import { createGatehouse } from "gatehouse";
 * const gatehouse = await createGatehouse({ policy: "gatehouse.yaml" });
 * const tools = gatehouse.guard({ get_order: async (args: { order_id: string }) => lookup(args.order_id) }, { agent: "support-bot" });
 */
export { createGatehouse, guardTools } from "./integrations/index.js";
export type {
  Gatehouse,
  GatehouseOptions,
  GuardOptions,
  GuardedResult,
  GuardedTools,
  ToolContext,
  ToolDefinition,
  ToolFunction,
} from "./integrations/index.js";
export { createGate, policyCheck, stop, proceed } from "./gate/index.js";
export type { Gate, GateDecision, GateOptions, Check, CheckContext, CheckOutcome } from "./gate/index.js";
export {
  loadPolicyFile,
  parsePolicy,
  evaluatePolicy,
  explainPolicy,
  policyJsonSchema,
  PolicyError,
  formatProblem,
  normalizePath,
} from "./policy/index.js";
export type { CompiledPolicy, Explanation, RuleTrace, PolicyProblem, PolicyFile } from "./policy/index.js";
export { createMemoryAuditLog } from "./audit/index.js";
export type { MemoryAuditLog } from "./audit/index.js";
export { canonicalJson, actionDigest, RISK_CLASSES, ENVIRONMENTS, DECISION_CODES } from "./core/index.js";
export type { Action, Decision, DecisionCode, Verdict, Risk, Environment, AuditEvent, AuditSink, AuditOutcome } from "./core/index.js";
export { openAuditLog, verifyAuditLog } from "./audit/index.js";
export type { DurableAuditLog, AuditLogOptions, VerifyReport } from "./audit/index.js";
export { createApprovals, approvalsFromConfig } from "./approvals/index.js";
export type { Approvals, ApprovalRequest, Grant } from "./approvals/index.js";
export { dryRunModeCheck, sqlClassCheck, createSqliteSqlTool, createPostgresSqlTool, defineSqlQueries } from "./dryrun/index.js";
export type { DryRunMode, SqlTool, SqlPreview } from "./dryrun/index.js";
export { createSecretBroker, createScrubber, secretHandle } from "./secrets/index.js";
export type { SecretBroker, SecretLease, Scrubber } from "./secrets/index.js";
export { createEgressProxy } from "./egress/index.js";
export { createSandbox, probeHost } from "./sandbox/index.js";
export { createControlServer } from "./server/index.js";

export { loadPolicyFile, parsePolicy, MAX_POLICY_BYTES } from "./load.js";
export type { CompiledPolicy, CompiledTool, CompiledRule } from "./load.js";
export { evaluatePolicy, explainPolicy } from "./evaluate.js";
export type { Explanation, RuleTrace } from "./evaluate.js";
export { PolicyError, formatProblem, POLICY_ERROR_CODES } from "./errors.js";
export type { PolicyProblem, PolicyErrorCode } from "./errors.js";
export { PolicySchema, ArgSchemaSchema, policyJsonSchema, POLICY_VERSION, CEL_VARIABLES, ARG_FORMATS } from "./schema.js";
export type { PolicyFile, ToolConfig, AgentConfig, RuleConfig, DefaultsConfig, ArgSchema } from "./schema.js";
export { normalizePath, isWithinPrefix } from "./paths.js";
export type { NormalizedPath, PathRefusal } from "./paths.js";
export { closestMatch } from "./suggest.js";
export { NAMESPACE_SEPARATOR, McpServerSchema, McpConfigSchema, CLIENT_REQUEST_KINDS, DEFAULT_CLIENT_REQUESTS_PER_MINUTE } from "./sections/mcp.js";
export type { McpServerConfig, McpConfig, ClientRequestKind } from "./sections/mcp.js";
export { ClaudeCodeConfigSchema } from "./sections/claude-code.js";
export type { ClaudeCodeConfig } from "./sections/claude-code.js";
export { SandboxPolicySchema, SandboxProfileSchema, SandboxLimitsSchema, SandboxEnvSchema } from "./sections/sandbox.js";
export type { SandboxPolicyConfig, SandboxProfileConfig } from "./sections/sandbox.js";
export {
  ApproversSchema,
  ApproverSchema,
  ApprovalsConfigSchema,
  WebhookConfigSchema,
  DurationSchema,
  APPROVER_ROLES,
  parseDuration,
} from "./sections/approvals.js";
export type { ApproversConfig, ApproverConfig, ApprovalsConfig, WebhookConfig, ApproverRole } from "./sections/approvals.js";
export { auditConfigSchema } from "./sections/audit.js";
export type { AuditConfig } from "./sections/audit.js";
export { SecretsConfigSchema, SecretSourceSchema, MAX_TOKEN_TTL_SECONDS, HANDLE_NAME, checkSecretBindings } from "./sections/secrets.js";
export type {
  SecretsConfig,
  SecretSource,
  HandleConfig,
  TokenConfig,
  SigningConfig,
  VaultServerConfig,
  ScrubConfig,
  SecretsConfigProblem,
} from "./sections/secrets.js";
export {
  egressPolicySchema,
  egressProfileSchema,
  egressAllowEntrySchema,
  egressCredentialSchema,
  egressBudgetSchema,
  normalizeHost,
  parseIpLiteral,
  parseIPv6Literal,
  printable,
  isAddressOrCidr,
  HostSyntaxError,
} from "./sections/egress.js";
export type { EgressPolicy, EgressProfile, EgressAllowEntry, EgressCredential, EgressBudget, NormalizedHost } from "./sections/egress.js";

import { z } from "zod";
import { ENVIRONMENTS, RISK_CLASSES } from "../core/index.js";
import { ApprovalsConfigSchema, ApproversSchema } from "./sections/approvals.js";
import { egressPolicySchema } from "./sections/egress.js";
import { SecretsConfigSchema } from "./sections/secrets.js";
import { SandboxPolicySchema } from "./sections/sandbox.js";
import { auditConfigSchema } from "./sections/audit.js";
import { McpConfigSchema } from "./sections/mcp.js";
import { ClaudeCodeConfigSchema } from "./sections/claude-code.js";

/** The only policy file version this build reads. */
export const POLICY_VERSION = 1;

/** Variables a rule's CEL expression may use. */
export const CEL_VARIABLES = [
  "tool",
  "args",
  "risk",
  "irreversible",
  "agent",
  "environment",
  "principal",
  "run",
  "request",
] as const;

/** String formats an argument schema may name (checked by ajv-formats). */
export const ARG_FORMATS = [
  "email",
  "hostname",
  "ipv4",
  "ipv6",
  "uri",
  "uri-reference",
  "uuid",
  "date",
  "time",
  "date-time",
  "duration",
] as const;

const JSON_TYPES = ["string", "number", "integer", "boolean", "object", "array", "null"] as const;

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;
const RULE_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

const jsonValue = z.json();

const nonNegativeInt = z.int().min(0);

/**
 * The subset of JSON Schema an argument schema may use: enough to narrow a tool to what the job
 * needs, small enough that every keyword has a test. `pathPrefix` is ours: the value is a path,
 * normalised before any check, that must lie under one of the given absolute prefixes.
 * Objects reject properties they do not list unless `additionalProperties` says otherwise.
 */
export interface ArgSchema {
  type?: (typeof JSON_TYPES)[number] | (typeof JSON_TYPES)[number][];
  description?: string;
  title?: string;
  enum?: z.infer<typeof jsonValue>[];
  const?: z.infer<typeof jsonValue>;
  properties?: Record<string, ArgSchema>;
  required?: string[];
  additionalProperties?: boolean | ArgSchema;
  minProperties?: number;
  maxProperties?: number;
  items?: ArgSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: (typeof ARG_FORMATS)[number];
  pathPrefix?: string | string[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  anyOf?: ArgSchema[];
}

const absolutePrefix = z
  .string()
  .regex(/^\//, { message: "a path prefix must be absolute (start with `/`)" })
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), {
    message: "a path prefix must not contain `.` or `..` segments",
  });

export const ArgSchemaSchema: z.ZodType<ArgSchema> = z.lazy(() =>
  z
    .strictObject({
      type: z.union([z.enum(JSON_TYPES), z.array(z.enum(JSON_TYPES)).min(1)]).optional(),
      description: z.string().optional(),
      title: z.string().optional(),
      enum: z.array(jsonValue).min(1).optional(),
      const: jsonValue.optional(),
      properties: z.record(z.string(), ArgSchemaSchema).optional(),
      required: z.array(z.string()).optional(),
      additionalProperties: z.union([z.boolean(), ArgSchemaSchema]).optional(),
      minProperties: nonNegativeInt.optional(),
      maxProperties: nonNegativeInt.optional(),
      items: ArgSchemaSchema.optional(),
      minItems: nonNegativeInt.optional(),
      maxItems: nonNegativeInt.optional(),
      uniqueItems: z.boolean().optional(),
      minLength: nonNegativeInt.optional(),
      maxLength: nonNegativeInt.optional(),
      pattern: z.string().optional(),
      format: z.enum(ARG_FORMATS).optional(),
      pathPrefix: z.union([absolutePrefix, z.array(absolutePrefix).min(1)]).optional(),
      minimum: z.number().optional(),
      maximum: z.number().optional(),
      exclusiveMinimum: z.number().optional(),
      exclusiveMaximum: z.number().optional(),
      multipleOf: z.number().positive().optional(),
      anyOf: z.array(ArgSchemaSchema).min(1).optional(),
    })
    .describe("JSON Schema subset narrowing a tool's arguments"),
);

const verdict = z.enum(["allow", "deny", "ask", "dry-run"]).describe("what the gate answers");

const AgentSchema = z
  .strictObject({
    owner: z.string().min(1).describe("who answers for this agent (a person or team)"),
    environment: z.enum(ENVIRONMENTS).describe("where the agent runs"),
    description: z.string().optional(),
    tools: z
      .array(z.string().regex(NAME))
      .optional()
      .describe("the listed tools this agent may use; all listed tools when omitted"),
  })
  .describe("a named identity that acts");

const ToolSchema = z
  .strictObject({
    risk: z.enum(RISK_CLASSES).describe("how much damage a call can do"),
    irreversible: z.boolean().optional().describe("undo is impossible; never allowed by a default"),
    description: z.string().optional(),
    args: ArgSchemaSchema.optional(),
  })
  .describe("a tool the agent may use; anything not listed is denied");

const RuleSchema = z
  .strictObject({
    id: z.string().regex(RULE_ID, { message: "a rule id is letters, digits, `-`, `_` and `.`" }),
    description: z.string().optional(),
    when: z.string().min(1).describe(`CEL expression over ${CEL_VARIABLES.join(", ")}`),
    decision: verdict,
    approvers: z.int().min(1).max(10).optional().describe("distinct approvers an `ask` needs (default 1)"),
    reason: z.string().max(500).optional().describe("shown to the agent and the approver"),
  })
  .refine((rule) => rule.approvers === undefined || rule.decision === "ask", {
    message: "`approvers` goes only with `decision: ask`",
    path: ["approvers"],
  });

const RiskDefaultsSchema = z.strictObject({
  "read-only": verdict.optional(),
  "low-risk-write": verdict.optional(),
  "high-risk-write": verdict.optional(),
});

const DefaultsSchema = RiskDefaultsSchema.extend({
  environments: z.partialRecord(z.enum(ENVIRONMENTS), RiskDefaultsSchema).optional(),
}).describe("the decision per risk class when no rule matches, optionally per environment");

/** The policy file (`gatehouse.yaml`), version 1. */
export const PolicySchema = z
  .strictObject({
    version: z.literal(POLICY_VERSION).describe("policy file format version"),
    description: z.string().optional(),
    agents: z
      .record(z.string().regex(NAME), AgentSchema)
      .refine((agents) => Object.keys(agents).length > 0, { message: "declare at least one agent" }),
    tools: z.record(z.string().regex(NAME), ToolSchema),
    rules: z.array(RuleSchema).optional(),
    defaults: DefaultsSchema.optional(),
    approvers: ApproversSchema.optional(),
    approvals: ApprovalsConfigSchema.optional(),
    secrets: SecretsConfigSchema.optional(),
    egress: egressPolicySchema.optional(),
    sandbox: SandboxPolicySchema.optional(),
    audit: auditConfigSchema.optional(),
    mcp: McpConfigSchema.optional(),
    "claude-code": ClaudeCodeConfigSchema.optional(),
  })
  .describe("Gatehouse policy");

export type PolicyFile = z.infer<typeof PolicySchema>;
export type ToolConfig = z.infer<typeof ToolSchema>;
export type AgentConfig = z.infer<typeof AgentSchema>;
export type RuleConfig = z.infer<typeof RuleSchema>;
export type DefaultsConfig = z.infer<typeof DefaultsSchema>;

/** The JSON Schema of the policy file, for editors (`gatehouse policy schema`). */
export function policyJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(PolicySchema, { target: "draft-2020-12", io: "input" });
  return { ...schema, $id: "https://gatehouse.dev/schema/policy-v1.json", title: "Gatehouse policy" };
}

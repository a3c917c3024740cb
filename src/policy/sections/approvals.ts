import { z } from "zod";

const IDENTITY = /^[A-Za-z0-9_][A-Za-z0-9_.@:-]{0,127}$/;
const DURATION = /^([1-9][0-9]{0,8})(ms|s|m|h|d)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration such as `90s`, `15m`, `2h` or `1d`. */
export const DurationSchema = z
  .string()
  .regex(DURATION, { message: "a duration is a whole number and a unit: `ms`, `s`, `m`, `h` or `d` (e.g. `15m`)" })
  .describe("a duration: a whole number and a unit (ms, s, m, h, d)");

/** Milliseconds of a duration text that passed {@link DurationSchema}; throws RangeError otherwise. */
export function parseDuration(text: string): number {
  const match = DURATION.exec(text);
  if (!match) throw new RangeError(`\`${text}\` is not a duration such as \`15m\``);
  return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
}

/** The roles an identity can hold: `approver` answers requests; `admin` also revokes anyone's grants. */
export const APPROVER_ROLES = ["approver", "admin"] as const;
export type ApproverRole = (typeof APPROVER_ROLES)[number];

/** One approver identity. */
export const ApproverSchema = z
  .strictObject({
    roles: z.array(z.enum(APPROVER_ROLES)).min(1).describe("`approver` answers requests; `admin` also revokes any grant"),
    tokenSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, { message: "give the SHA-256 of the token as 64 lowercase hex digits (`gatehouse approvals token`)" })
      .optional()
      .describe("SHA-256 (hex) of this approver's API token for `gatehouse serve`; the token itself never goes in the policy"),
    description: z.string().max(500).optional(),
  })
  .describe("an approver identity");

/**
 * The policy's `approvers:` section: identity name → roles and token digest. An identity that is
 * also an agent's name or a run's principal can never approve that agent's or principal's requests.
 */
export const ApproversSchema = z
  .record(z.string().regex(IDENTITY, { message: "an identity is letters, digits and `_ . @ : -`" }), ApproverSchema)
  .describe("who may answer approval requests");

/** The webhook notifier's settings. */
export const WebhookConfigSchema = z
  .strictObject({
    url: z.url({ protocol: /^https?$/ }).describe("where each new request is POSTed (a Slack incoming webhook or compatible)"),
    publicUrl: z.url({ protocol: /^https?$/ }).describe("the base URL of `gatehouse serve` that approve/deny links point at"),
    linkTtl: DurationSchema.optional().describe("how long a link stays valid (default 1h; never past the request's expiry)"),
    approvers: z.array(z.string().regex(IDENTITY)).min(1).optional().describe("the identities that get links (default: every approver)"),
  })
  .describe("a webhook that receives each new request with signed approve/deny links");

/** The policy's `approvals:` section. */
export const ApprovalsConfigSchema = z
  .strictObject({
    ttl: DurationSchema.optional().describe("how long a request can be answered and an approval used (default 15m)"),
    maxGrantTtl: DurationSchema.optional().describe("the longest grant an approver may give (default 24h)"),
    webhook: WebhookConfigSchema.optional(),
  })
  .describe("how approval requests expire and whom they notify");

export type ApproversConfig = z.infer<typeof ApproversSchema>;
export type ApproverConfig = z.infer<typeof ApproverSchema>;
export type ApprovalsConfig = z.infer<typeof ApprovalsConfigSchema>;
export type WebhookConfig = z.infer<typeof WebhookConfigSchema>;

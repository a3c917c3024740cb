import { z } from "zod";
import { normalizeHost } from "./host.js";
import { isAddressOrCidr } from "./ssrf.js";

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
const FORBIDDEN_INJECTED_HEADERS = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "upgrade",
  "proxy-authorization",
  "te",
  "trailer",
  "keep-alive",
]);

function hostPatternProblem(pattern: string): string | undefined {
  const wildcard = pattern.startsWith("*.");
  const rest = wildcard ? pattern.slice(2) : pattern;
  if (rest.includes("*")) return "a `*` may only stand alone as the first label (`*.example.com`)";
  try {
    const host = normalizeHost(rest);
    if (wildcard && host.kind === "ip") return "a wildcard cannot precede an IP address";
    if (wildcard && host.kind === "name" && !host.name.includes(".")) return "a wildcard must cover a name with at least two labels";
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

const hostPattern = z
  .string()
  .min(1)
  .max(300)
  .superRefine((value, ctx) => {
    const problem = hostPatternProblem(value);
    if (problem) ctx.addIssue({ code: "custom", message: problem.startsWith("host `") ? problem : `host pattern \`${value}\` is refused: ${problem}` });
  })
  .describe("an exact host (`api.github.com`, an IP literal) or `*.example.com` (any name under it, not the name itself)");

const port = z.int().min(1).max(65535);

const addressOrCidr = z
  .string()
  .refine(isAddressOrCidr, { message: "not an IP address or CIDR (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`)" })
  .refine(
    (text) => {
      const bits = Number(text.split("/")[1] ?? "128");
      return text.includes(":") ? bits >= 16 : bits >= 8;
    },
    // A range this wide would switch the SSRF guard off for the entry (metadata included).
    { message: "range too broad for an unsafe exception: use at most /8 for IPv4 and /16 for IPv6" },
  );

/** One allow-list entry. */
export const egressAllowEntrySchema = z
  .strictObject({
    id: z.string().regex(NAME).optional().describe("rule id shown in refusals and the audit log; defaults to `<profile>.allow[<index>]`"),
    host: hostPattern,
    ports: z.array(port).min(1).default([443]).describe("ports this host may be reached on (default [443])"),
    unsafeAllowAddresses: z
      .array(addressOrCidr)
      .min(1)
      .optional()
      .describe(
        "UNSAFE: non-public addresses (loopback, private, link-local, metadata…) this entry's host may resolve to; " +
          "only for deliberate access to an internal service",
      ),
  })
  .describe("a destination the agent may reach");

/** A credential the proxy adds to requests to one host (HTTPS only, via TLS interception). */
export const egressCredentialSchema = z
  .strictObject({
    host: hostPattern
      .refine((h) => !h.startsWith("*"), { message: "credential hosts must be exact names, not wildcards" })
      .refine((h) => {
        try {
          return normalizeHost(h).kind === "name";
        } catch {
          return false;
        }
      }, { message: "credential hosts must be DNS names (the local CA is name-constrained to them)" })
      .describe("the exact DNS name whose requests get the credential"),
    ports: z.array(port).min(1).default([443]).describe("ports on which requests are intercepted (default [443])"),
    header: z
      .string()
      .regex(HEADER_NAME, { message: "not a valid HTTP header name" })
      .refine((h) => !FORBIDDEN_INJECTED_HEADERS.has(h.toLowerCase()), { message: "this header cannot carry a credential" })
      .describe("header to set, e.g. `Authorization` or `x-api-key`; any value the client sent in it is replaced"),
    prefix: z.string().max(64).regex(/^[\x21-\x7e ]*$/).optional().describe("text before the secret, e.g. `Bearer `"),
    secret: z.string().regex(NAME).describe("name of the secret passed to the credential source"),
  })
  .describe("credential injection for one host");

/** Per-agent or per-run limits. Unset means unlimited; 0 means nothing is allowed. */
export const egressBudgetSchema = z
  .strictObject({
    requestsPerMinute: z.int().min(0).optional().describe("HTTP requests plus CONNECT tunnels opened in any 60 s window"),
    concurrentTunnels: z.int().min(0).optional().describe("CONNECT tunnels open at once"),
    bytesUp: z.int().min(0).optional().describe("bytes sent to upstreams in total"),
    bytesDown: z.int().min(0).optional().describe("bytes received from upstreams in total"),
  })
  .describe("limits answered with 429 once reached");

/** One sandbox or agent profile. */
export const egressProfileSchema = z
  .strictObject({
    mode: z
      .enum(["enforce", "report"])
      .default("enforce")
      .describe("`enforce` refuses what the allow-list does not name; `report` allows it but records the would-be refusal (the SSRF guard always enforces)"),
    allow: z.array(egressAllowEntrySchema).default([]).describe("destinations this profile may reach; everything else is refused"),
    credentials: z.array(egressCredentialSchema).default([]).describe("credentials added on the way out"),
  })
  .describe("an allow-list and its credentials");

const timeouts = z
  .strictObject({
    connectMs: z.int().min(1).max(600_000).default(10_000).describe("DNS lookup plus TCP (and upstream TLS) connect"),
    idleMs: z.int().min(1).max(86_400_000).default(120_000).describe("no byte in either direction"),
    totalMs: z.int().min(1).max(86_400_000).default(3_600_000).describe("whole life of one request or tunnel"),
    headersMs: z.int().min(1).max(600_000).default(10_000).describe("time a client has to send its request headers (slow clients)"),
  })
  .describe("timeouts");

/**
 * The `egress:` section of the policy file (mount it under the key `egress`).
 *
 * @example
 * egressPolicySchema.parse({ profiles: { web: { allow: [{ host: "*.github.com" }] } }, agents: { coder: "web" } })
 */
export const egressPolicySchema = z
  .strictObject({
    listen: z
      .string()
      .regex(/^(?:\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):[0-9]{1,5}$/, { message: "use `ADDRESS:PORT`, e.g. `127.0.0.1:3128`" })
      .optional()
      .describe("address the proxy listens on (default 127.0.0.1:3128)"),
    profiles: z.record(z.string().regex(NAME), egressProfileSchema).describe("allow-lists by name"),
    agents: z
      .record(z.string().regex(NAME), z.string().regex(NAME))
      .default({})
      .describe("agent name → profile name; an agent not listed is refused"),
    budgets: z
      .strictObject({ perAgent: egressBudgetSchema.optional(), perRun: egressBudgetSchema.optional() })
      .default({})
      .describe("budgets per agent and per run"),
    timeouts: timeouts.default({ connectMs: 10_000, idleMs: 120_000, totalMs: 3_600_000, headersMs: 10_000 }),
    maxHeaderBytes: z.int().min(1024).max(1_048_576).default(16_384).describe("largest request head accepted (431 above)"),
  })
  .superRefine((policy, ctx) => {
    for (const [agent, profile] of Object.entries(policy.agents)) {
      if (!(profile in policy.profiles)) {
        ctx.addIssue({ code: "custom", path: ["agents", agent], message: `profile \`${profile}\` is not defined under \`profiles\`` });
      }
    }
  })
  .describe("the egress proxy: allow-lists, credential injection, budgets, timeouts");

/** The validated `egress:` section. */
export type EgressPolicy = z.output<typeof egressPolicySchema>;
/** One validated profile. */
export type EgressProfile = z.output<typeof egressProfileSchema>;
/** One validated allow-list entry. */
export type EgressAllowEntry = z.output<typeof egressAllowEntrySchema>;
/** One validated credential rule. */
export type EgressCredential = z.output<typeof egressCredentialSchema>;
/** One validated budget. */
export type EgressBudget = z.output<typeof egressBudgetSchema>;

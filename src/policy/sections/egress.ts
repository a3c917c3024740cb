import { domainToASCII } from "node:url";
import ipaddr from "ipaddr.js";
import { z } from "zod";

/*
 * The `egress:` section of the policy file. The policy owns the file's schema; the egress proxy
 * (src/egress) reads the validated section and re-exports these names. Host normalisation lives
 * here too, because validating a host pattern means normalising it exactly as the proxy will
 * normalise a request's host: one implementation, used by both (src/egress/host.ts wraps it).
 */

/** A destination host after normalisation: either a DNS name or an IP address. */
export type NormalizedHost =
  | { readonly kind: "name"; readonly name: string }
  | { readonly kind: "ip"; readonly ip: ipaddr.IPv4 | ipaddr.IPv6; readonly text: string; readonly zone?: string };

/** A host that does not normalise; the message says which host and why. */
export class HostSyntaxError extends Error {
  constructor(raw: string, why: string) {
    super(`host \`${printable(raw)}\` is refused: ${why}`);
    this.name = "HostSyntaxError";
  }
}

const MAX_NAME_LENGTH = 253;
const LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
// WHATWG URL host parser: a name whose last label is a number is an IPv4 address, and must
// parse as one (so `1.2.3.4.5` or `0x7g.1` are refused instead of being looked up in DNS).
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|[0-9]+)$/;
const DOTTED_TAIL = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IPV6_CHARS = /^[0-9a-f:.]+$/;

/**
 * Parses an IPv6 literal (without brackets, optionally with a `%zone`). ipaddr.js reads the
 * embedded-IPv4 spelling `::a.b.c.d` as IPv4-mapped (`::ffff:a.b.c.d`) and reads `::0177.0.0.1`
 * as decimal, so the dotted tail is converted here, strictly (decimal, no leading zeros), before
 * ipaddr.js sees the text. Returns undefined when the text is not an IPv6 address.
 */
export function parseIPv6Literal(text: string): { ip: ipaddr.IPv6; zone?: string } | undefined {
  const percent = text.indexOf("%");
  let body = (percent === -1 ? text : text.slice(0, percent)).toLowerCase();
  let zone = percent === -1 ? undefined : text.slice(percent + 1);
  if (zone !== undefined) {
    // RFC 6874 writes the zone as `%25zone` inside URLs.
    if (zone.startsWith("25") && zone.length > 2) zone = zone.slice(2);
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(zone)) return undefined;
  }
  if (!body.includes(":") || !IPV6_CHARS.test(body)) return undefined;
  const tail = DOTTED_TAIL.exec(body);
  if (tail) {
    const octets = tail.slice(2, 6).map((part) => {
      if (part.length > 1 && part.startsWith("0")) return Number.NaN;
      return Number(part);
    });
    if (octets.some((o) => !Number.isInteger(o) || o > 255)) return undefined;
    const [a, b, c, d] = octets as [number, number, number, number];
    body = `${tail[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  } else if (body.includes(".")) {
    return undefined;
  }
  if (!ipaddr.IPv6.isValid(body)) return undefined;
  try {
    const ip = ipaddr.IPv6.parse(body);
    return zone === undefined ? { ip } : { ip, zone };
  } catch {
    return undefined;
  }
}

/**
 * Parses an IP address in any spelling a client or resolver may produce: dotted decimal, and
 * the forms `inet_aton` accepts (decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short
 * `127.1`), IPv6 with or without brackets and zone, embedded dotted IPv4 tails.
 * Returns undefined when the text is not an IP address.
 *
 * @example parseIpLiteral("0x7f.1")?.toString() // "127.0.0.1"
 */
export function parseIpLiteral(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  // Fast path for what resolvers return; every other spelling goes through normalizeHost.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  const host = normalizeHostOrUndefined(text);
  return host?.kind === "ip" ? host.ip : undefined;
}

function normalizeHostOrUndefined(raw: string): NormalizedHost | undefined {
  try {
    return normalizeHost(raw);
  } catch {
    return undefined;
  }
}

/**
 * Normalises the host a client asked for, the way a browser's URL parser would, so the name
 * checked is the name dialled: IDNA to punycode (`domainToASCII`), lower case, one trailing dot
 * removed, IPv4 numbers in every spelling turned into dotted decimal, IPv6 canonicalised.
 * Throws {@link HostSyntaxError} for anything that does not normalise; such a host is refused,
 * never looked up (the egress proxy turns it into `egress-host-invalid`).
 *
 * @example normalizeHost("Bücher.Example.").kind === "name" // name: "xn--bcher-kva.example"
 */
export function normalizeHost(raw: string): NormalizedHost {
  if (raw.length === 0 || raw.length > 1024) throw invalidHost(raw, "it is empty or too long");
  let text = raw;
  const bracketed = text.startsWith("[");
  if (bracketed || text.endsWith("]")) {
    if (!(bracketed && text.endsWith("]"))) throw invalidHost(raw, "its brackets do not match");
    text = text.slice(1, -1);
  }
  if (bracketed || text.includes(":")) {
    const v6 = parseIPv6Literal(text);
    if (!v6) throw invalidHost(raw, "it is not a valid IPv6 address");
    const canonical = v6.ip.toString();
    return v6.zone === undefined
      ? { kind: "ip", ip: v6.ip, text: canonical }
      : { kind: "ip", ip: v6.ip, text: canonical, zone: v6.zone };
  }
  // Percent-encoding and control characters are not part of a host; the WHATWG parser would
  // decode some of them, which is exactly the kind of disagreement an attacker looks for.
  if (/[%\s\\/@?#]/.test(text)) throw invalidHost(raw, "it contains characters a host cannot have");
  const ascii = domainToASCII(text);
  if (ascii === "") {
    const lastLabel = text.toLowerCase().replace(/\.$/, "").split(".").pop() ?? "";
    if (NUMERIC_LABEL.test(lastLabel)) throw invalidHost(raw, "it ends in a number but is not a valid IPv4 address");
    throw invalidHost(raw, "it does not normalise to an ASCII name (IDNA)");
  }
  let name = ascii.toLowerCase();
  if (name.endsWith(".")) name = name.slice(0, -1);
  if (name.length === 0 || name.length > MAX_NAME_LENGTH) throw invalidHost(raw, "its length is out of range");
  if (ipaddr.IPv4.isValidFourPartDecimal(name)) {
    const ip = ipaddr.IPv4.parse(name);
    return { kind: "ip", ip, text: ip.toString() };
  }
  const labels = name.split(".");
  const last = labels[labels.length - 1] ?? "";
  if (NUMERIC_LABEL.test(last)) throw invalidHost(raw, "it ends in a number but is not a valid IPv4 address");
  for (const label of labels) {
    if (!LABEL.test(label)) throw invalidHost(raw, `its label \`${label.slice(0, 64)}\` is not a valid DNS label`);
  }
  return { kind: "name", name };
}

/** Keeps attacker-controlled text in messages short and printable. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we strip
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f`]/g, "?");
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}

function invalidHost(raw: string, why: string): HostSyntaxError {
  return new HostSyntaxError(raw, why);
}

/** True when `text` is a valid CIDR or single IP address (for validating `unsafeAllowAddresses`). */
export function isAddressOrCidr(text: string): boolean {
  if (text.includes("/")) {
    try {
      ipaddr.parseCIDR(text);
      return true;
    } catch {
      return false;
    }
  }
  return parseIpLiteral(text) !== undefined;
}

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

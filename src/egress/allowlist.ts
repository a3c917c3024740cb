import { normalizeHost, type Authority } from "./host.js";
import type { EgressCredential, EgressProfile } from "./schema.js";
import { compileAddressRanges, type AddressRanges } from "./ssrf.js";

/** A compiled allow-list entry. */
export interface AllowRule {
  readonly id: string;
  /** Normalised pattern: `api.github.com`, `*.example.com`, or a canonical IP. */
  readonly pattern: string;
  readonly ports: readonly number[];
  readonly unsafeAllowAddresses: readonly string[];
  /** The same, parsed once. */
  readonly unsafeAllowRanges: AddressRanges;
}

/** A compiled credential rule. */
export interface CredentialRule {
  readonly host: string;
  readonly ports: readonly number[];
  readonly header: string;
  readonly prefix: string;
  readonly secret: string;
}

/** How an allow-list answers for one destination. */
export type AllowListMatch =
  | { readonly matched: true; readonly rule: AllowRule }
  | { readonly matched: false; readonly reason: string };

/** A profile compiled once at load: patterns normalised, so matching is cheap and exact. */
export interface CompiledAllowList {
  readonly profile: string;
  readonly mode: "enforce" | "report";
  readonly rules: readonly AllowRule[];
  readonly credentials: readonly CredentialRule[];
}

function normalizePattern(pattern: string): string {
  if (pattern.startsWith("*.")) {
    const host = normalizeHost(pattern.slice(2));
    return `*.${host.kind === "name" ? host.name : host.text}`;
  }
  const host = normalizeHost(pattern);
  return host.kind === "name" ? host.name : host.text;
}

/**
 * Compiles one profile of the `egress:` section. Patterns are normalised the same way a
 * request's host is (IDNA, case, trailing dot, IP spelling), so `*.Bücher.example.` in the
 * policy matches `www.xn--bcher-kva.example` in a request. Throws `egress-host-invalid` for a
 * pattern that does not normalise (the schema has refused those already).
 *
 * @example compileAllowList("web", profile).rules[0]?.pattern // "*.github.com"
 */
export function compileAllowList(name: string, profile: EgressProfile): CompiledAllowList {
  const rules = profile.allow.map((entry, index): AllowRule => ({
    id: entry.id ?? `${name}.allow[${index}]`,
    pattern: normalizePattern(entry.host),
    ports: [...entry.ports],
    unsafeAllowAddresses: [...(entry.unsafeAllowAddresses ?? [])],
    unsafeAllowRanges: compileAddressRanges(entry.unsafeAllowAddresses ?? []),
  }));
  const credentials = profile.credentials.map((c: EgressCredential): CredentialRule => ({
    host: normalizePattern(c.host),
    ports: [...c.ports],
    header: c.header.toLowerCase(),
    prefix: c.prefix ?? "",
    secret: c.secret,
  }));
  return Object.freeze({ profile: name, mode: profile.mode, rules: Object.freeze(rules), credentials: Object.freeze(credentials) });
}

function hostMatches(pattern: string, host: string): boolean {
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(1);
    return host.length > suffix.length && host.endsWith(suffix);
  }
  return pattern === host;
}

/**
 * Finds the first rule that names this host and port. Wildcards match any depth of subdomain
 * but never the bare domain (`*.example.com` does not match `example.com`), nor an IP address.
 *
 * @example matchAllowList(list, parseAuthority("api.github.com:443"))
 */
export function matchAllowList(list: CompiledAllowList, target: Authority): AllowListMatch {
  const isIp = target.host.kind === "ip";
  let hostOnly: AllowRule | undefined;
  for (const rule of list.rules) {
    if (isIp && rule.pattern.startsWith("*.")) continue;
    if (!hostMatches(rule.pattern, target.hostText)) continue;
    if (rule.ports.includes(target.port)) return { matched: true, rule };
    hostOnly ??= rule;
  }
  const where = `\`${target.hostText}:${target.port}\``;
  return hostOnly
    ? { matched: false, reason: `${where} is not allowed: rule \`${hostOnly.id}\` names the host but only ports ${hostOnly.ports.join(", ")}` }
    : { matched: false, reason: `${where} is not allowed: no rule of profile \`${list.profile}\` names this host (default deny)` };
}

/** The credential rule for an exact host and port, if the profile names one. */
export function findCredential(list: CompiledAllowList, target: Authority): CredentialRule | undefined {
  if (target.host.kind !== "name") return undefined;
  return list.credentials.find((c) => c.host === target.hostText && c.ports.includes(target.port));
}

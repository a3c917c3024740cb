import ipaddr from "ipaddr.js";
import { parseIpLiteral } from "./host.js";

// Validation of `unsafeAllowAddresses` belongs to the policy schema; re-exported for callers.
export { isAddressOrCidr } from "../policy/index.js";

type IP = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Every class an address can fall in. Each has a sentence for people and a stable metric name
 * (`egress.allow.<class>` / `egress.deny.<class>`), in the manner of smokescreen's `ipType`.
 * INVARIANT: append-only; names stay in audit logs and dashboards.
 */
export const ADDRESS_CLASSES = {
  public: "public unicast address",
  unsafe_allowed: "non-public address named by an `unsafeAllowAddresses` entry of the allow-list",
  proxy_self: "the proxy's own listening address (a request loop)",
  cloud_metadata: "cloud instance metadata service address",
  unspecified: "unspecified address (`this network`)",
  loopback: "loopback address",
  private: "private network address (RFC 1918)",
  cgnat: "carrier-grade NAT shared address space (RFC 6598)",
  link_local: "link-local address",
  ietf_protocol: "IETF protocol assignment (192.0.0.0/24, RFC 6890)",
  documentation: "documentation address range",
  benchmarking: "benchmarking address range (RFC 2544, RFC 5180)",
  deprecated_6to4_relay: "deprecated 6to4 relay anycast (RFC 7526)",
  multicast: "multicast address",
  broadcast: "limited broadcast address",
  reserved: "reserved address range (240.0.0.0/4)",
  ipv4_compatible: "deprecated IPv4-compatible IPv6 address (RFC 4291)",
  ipv4_translated: "IPv4-translated address (RFC 6145)",
  nat64_local: "local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215)",
  discard_only: "IPv6 discard-only prefix 100::/64 (RFC 6666)",
  ietf_protocol_v6: "IETF protocol assignment 2001::/23 (RFC 2928)",
  unique_local: "IPv6 unique-local address fc00::/7 (RFC 4193)",
  site_local: "deprecated IPv6 site-local address fec0::/10 (RFC 3879)",
  srv6_sid: "SRv6 segment identifier prefix 5f00::/16 (RFC 9602)",
  not_global_unicast: "IPv6 address outside global unicast 2000::/3",
  ipv4_mapped_forbidden: "IPv4-mapped IPv6 address that embeds a forbidden IPv4 address",
  nat64_forbidden: "NAT64 address (64:ff9b::/96) that embeds a forbidden IPv4 address",
  sixtofour_forbidden: "6to4 address (2002::/16) that embeds a forbidden IPv4 address",
  teredo_forbidden: "Teredo address (2001::/32) that embeds a forbidden IPv4 address",
} as const;

/** One of the keys of {@link ADDRESS_CLASSES}. */
export type AddressClass = keyof typeof ADDRESS_CLASSES;

/** What {@link classifyAddress} says about one address. */
export interface AddressClassification {
  readonly allowed: boolean;
  readonly class: AddressClass;
  /** `Deny: loopback address` — for people. */
  readonly sentence: string;
  /** `egress.deny.loopback` — for metrics and the audit log. */
  readonly metric: string;
  /** The address in canonical form. */
  readonly address: string;
  /** The address to dial (the IPv4 form of an IPv4-mapped address). */
  readonly dialAddress: string;
  /** For NAT64, 6to4, Teredo and IPv4-mapped addresses: the IPv4 inside and its class. */
  readonly embedded?: { readonly address: string; readonly class: AddressClass };
}

/** Where the proxy itself listens; connecting there would loop. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

/** What a classification may take into account besides the address. */
export interface ClassifyOptions {
  /** The port that will be dialled (for the self check). */
  readonly port?: number;
  /** CIDRs (or single addresses) an allow-list entry names explicitly with `unsafeAllowAddresses`. */
  readonly unsafeAllowAddresses?: readonly string[] | AddressRanges;
  /** The proxy's own listening addresses; never dialled, whatever the allow-list says. */
  readonly self?: readonly ListenAddress[];
}

type Cidr = [IP, number];

/** A list of CIDRs parsed once (see {@link compileAddressRanges}). */
export interface AddressRanges {
  readonly ranges: readonly Cidr[];
}

/**
 * Parses `unsafeAllowAddresses` entries once, at policy load, so a request does not re-parse
 * them. Throws on an entry that is not an address or CIDR (the schema refuses those first).
 */
export function compileAddressRanges(entries: readonly string[]): AddressRanges {
  return {
    ranges: entries.map((entry) => {
      const range = entry.includes("/") ? cidr(entry) : cidrOfAddress(entry);
      if (!range) throw new Error(`\`${entry}\` is not an IP address or CIDR`);
      return range;
    }),
  };
}

function cidr(text: string): Cidr {
  return ipaddr.parseCIDR(text);
}

// Exact metadata endpoints first, so they get their own class even inside a wider range.
// AWS/GCP/Azure IMDS 169.254.169.254, AWS Route 53 resolver 169.254.169.253, AWS ECS task
// metadata 169.254.170.2, Alibaba 100.100.100.200, Oracle 192.0.0.192, Azure WireServer
// 168.63.129.16 (a public address!), AWS IMDS over IPv6 fd00:ec2::254.
const CLOUD_METADATA: readonly Cidr[] = [
  "169.254.169.254/32",
  "169.254.169.253/32",
  "169.254.170.2/32",
  "100.100.100.200/32",
  "192.0.0.192/32",
  "168.63.129.16/32",
  "fd00:ec2::254/128",
  "fd00:ec2::23/128",
].map(cidr);

const V4_TABLE: readonly (readonly [AddressClass, readonly Cidr[]])[] = [
  ["unspecified", ["0.0.0.0/8"].map(cidr)], // RFC 1122 §3.2.1.3
  ["loopback", ["127.0.0.0/8"].map(cidr)], // RFC 1122
  ["private", ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map(cidr)], // RFC 1918
  ["cgnat", ["100.64.0.0/10"].map(cidr)], // RFC 6598
  ["link_local", ["169.254.0.0/16"].map(cidr)], // RFC 3927
  ["ietf_protocol", ["192.0.0.0/24"].map(cidr)], // RFC 6890
  ["documentation", ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"].map(cidr)], // RFC 5737
  ["benchmarking", ["198.18.0.0/15"].map(cidr)], // RFC 2544
  ["deprecated_6to4_relay", ["192.88.99.0/24"].map(cidr)], // RFC 7526
  ["multicast", ["224.0.0.0/4"].map(cidr)], // RFC 5771
  ["broadcast", ["255.255.255.255/32"].map(cidr)], // RFC 919
  ["reserved", ["240.0.0.0/4"].map(cidr)], // RFC 1112
];

const V6_TABLE: readonly (readonly [AddressClass, readonly Cidr[]])[] = [
  ["unspecified", ["::/128"].map(cidr)], // RFC 4291
  ["loopback", ["::1/128"].map(cidr)], // RFC 4291
  ["ipv4_translated", ["::ffff:0:0:0/96"].map(cidr)], // RFC 6145
  ["ipv4_compatible", ["::/96"].map(cidr)], // RFC 4291 §2.5.5.1 (deprecated)
  ["nat64_local", ["64:ff9b:1::/48"].map(cidr)], // RFC 8215
  ["discard_only", ["100::/64"].map(cidr)], // RFC 6666
  ["benchmarking", ["2001:2::/48"].map(cidr)], // RFC 5180
  ["documentation", ["2001:db8::/32", "3fff::/20"].map(cidr)], // RFC 3849, RFC 9637
  ["unique_local", ["fc00::/7"].map(cidr)], // RFC 4193
  ["link_local", ["fe80::/10"].map(cidr)], // RFC 4291
  ["site_local", ["fec0::/10"].map(cidr)], // RFC 3879
  ["multicast", ["ff00::/8"].map(cidr)], // RFC 4291
  ["srv6_sid", ["5f00::/16"].map(cidr)], // RFC 9602
];

const MAPPED = cidr("::ffff:0:0/96"); // RFC 4291 §2.5.5.2
const NAT64 = cidr("64:ff9b::/96"); // RFC 6052
const SIX_TO_FOUR = cidr("2002::/16"); // RFC 3056
const TEREDO = cidr("2001::/32"); // RFC 4380
const IETF_V6 = cidr("2001::/23"); // RFC 2928
const GLOBAL_UNICAST = cidr("2000::/3"); // RFC 4291

function inRange(ip: IP, range: Cidr): boolean {
  return ip.kind() === range[0].kind() && ip.match(range);
}

function v4FromParts(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The class of a plain IPv4 address, before any allow-list exception. */
function classifyV4(ip: ipaddr.IPv4): AddressClass {
  if (CLOUD_METADATA.some((r) => inRange(ip, r))) return "cloud_metadata";
  for (const [name, ranges] of V4_TABLE) if (ranges.some((r) => inRange(ip, r))) return name;
  return "public";
}

interface RawClass {
  readonly class: AddressClass;
  readonly dial: IP;
  readonly embedded?: { readonly ip: ipaddr.IPv4; readonly class: AddressClass };
}

function embedding(wrapper: AddressClass, inner: ipaddr.IPv4, dial: IP): RawClass {
  const innerClass = classifyV4(inner);
  return innerClass === "public"
    ? { class: "public", dial, embedded: { ip: inner, class: innerClass } }
    : { class: wrapper, dial, embedded: { ip: inner, class: innerClass } };
}

/** The class of an IPv6 address, looking inside the forms that carry an IPv4 address. */
function classifyV6(ip: ipaddr.IPv6): RawClass {
  const p = ip.parts;
  const at = (i: number): number => p[i] ?? 0;
  if (CLOUD_METADATA.some((r) => inRange(ip, r))) return { class: "cloud_metadata", dial: ip };
  if (inRange(ip, MAPPED)) {
    // The kernel dials ::ffff:a.b.c.d as a.b.c.d: judge (and dial) the IPv4 address.
    const inner = v4FromParts(at(6), at(7));
    return embedding("ipv4_mapped_forbidden", inner, inner);
  }
  if (inRange(ip, NAT64)) return embedding("nat64_forbidden", v4FromParts(at(6), at(7)), ip);
  if (inRange(ip, SIX_TO_FOUR)) return embedding("sixtofour_forbidden", v4FromParts(at(1), at(2)), ip);
  if (inRange(ip, TEREDO)) {
    // RFC 4380 §4: bits 32-63 hold the Teredo server, bits 96-127 the client, inverted.
    const server = v4FromParts(at(2), at(3));
    const client = v4FromParts(~at(6) & 0xffff, ~at(7) & 0xffff);
    const serverClass = classifyV4(server);
    if (serverClass !== "public") return { class: "teredo_forbidden", dial: ip, embedded: { ip: server, class: serverClass } };
    return embedding("teredo_forbidden", client, ip);
  }
  for (const [name, ranges] of V6_TABLE) if (ranges.some((r) => inRange(ip, r))) return { class: name, dial: ip };
  if (inRange(ip, IETF_V6)) return { class: "ietf_protocol_v6", dial: ip };
  if (!inRange(ip, GLOBAL_UNICAST)) return { class: "not_global_unicast", dial: ip };
  return { class: "public", dial: ip };
}

function sameAddress(a: IP, b: IP): boolean {
  const left = a.kind() === "ipv6" && (a as ipaddr.IPv6).isIPv4MappedAddress() ? (a as ipaddr.IPv6).toIPv4Address() : a;
  const right = b.kind() === "ipv6" && (b as ipaddr.IPv6).isIPv4MappedAddress() ? (b as ipaddr.IPv6).toIPv4Address() : b;
  return left.kind() === right.kind() && left.toNormalizedString() === right.toNormalizedString();
}

function matchesAny(ip: IP, entries: readonly string[] | AddressRanges): boolean {
  const ranges = "ranges" in entries ? entries.ranges : compileAddressRanges(entries).ranges;
  return ranges.some((range) => inRange(ip, range));
}

function cidrOfAddress(text: string): Cidr | undefined {
  const ip = parseIpLiteral(text);
  if (!ip) return undefined;
  return [ip, ip.kind() === "ipv4" ? 32 : 128];
}

/**
 * Decides whether the proxy may dial `address`, on the address itself, never on a name.
 * Order (first match wins): unparseable → refused as `not_global_unicast`; the proxy's own
 * listening address and port → refused, whatever the allow-list says; the class of the address
 * (cloud metadata, then the IANA special-purpose ranges, looking inside IPv4-mapped, NAT64,
 * 6to4 and Teredo addresses); a non-public class is allowed only when `unsafeAllowAddresses`
 * names the address (or, for an embedding form, the IPv4 inside).
 *
 * @example classifyAddress("::ffff:169.254.169.254").class // "ipv4_mapped_forbidden"
 */
export function classifyAddress(address: string | IP, options: ClassifyOptions = {}): AddressClassification {
  const ip = typeof address === "string" ? parseIpLiteral(address) : address;
  if (!ip) {
    const text = String(address);
    return result("not_global_unicast", false, text, text);
  }
  const canonical = ip.toString();
  const raw: RawClass = ip.kind() === "ipv4" ? { class: classifyV4(ip as ipaddr.IPv4), dial: ip } : classifyV6(ip as ipaddr.IPv6);
  const dial = raw.dial.toString();
  const embedded = raw.embedded ? { address: raw.embedded.ip.toString(), class: raw.embedded.class } : undefined;
  if (options.self && options.port !== undefined) {
    for (const self of options.self) {
      const selfIp = parseIpLiteral(self.address);
      if (!selfIp || self.port !== options.port) continue;
      if (sameAddress(selfIp, raw.dial) || sameAddress(selfIp, ip)) return result("proxy_self", false, canonical, dial, embedded);
    }
  }
  if (raw.class === "public") return result("public", true, canonical, dial, embedded);
  const unsafe = options.unsafeAllowAddresses ?? [];
  if (("ranges" in unsafe ? unsafe.ranges.length : unsafe.length) > 0 && (matchesAny(ip, unsafe) || (raw.embedded !== undefined && matchesAny(raw.embedded.ip, unsafe)))) {
    return result("unsafe_allowed", true, canonical, dial, embedded);
  }
  return result(raw.class, false, canonical, dial, embedded);
}

function result(
  cls: AddressClass,
  allowed: boolean,
  address: string,
  dialAddress: string,
  embedded?: { address: string; class: AddressClass },
): AddressClassification {
  const inner = embedded && embedded.class !== "public" ? ` (embeds ${embedded.address}: ${ADDRESS_CLASSES[embedded.class]})` : "";
  return {
    allowed,
    class: cls,
    sentence: `${allowed ? "Allow" : "Deny"}: ${ADDRESS_CLASSES[cls]}${inner}`,
    metric: `egress.${allowed ? "allow" : "deny"}.${cls}`,
    address,
    dialAddress,
    ...(embedded ? { embedded } : {}),
  };
}


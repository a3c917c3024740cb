import { domainToASCII } from "node:url";
import ipaddr from "ipaddr.js";
import { EgressError } from "./errors.js";

/** A destination host after normalisation: either a DNS name or an IP address. */
export type NormalizedHost =
  | { readonly kind: "name"; readonly name: string }
  | { readonly kind: "ip"; readonly ip: ipaddr.IPv4 | ipaddr.IPv6; readonly text: string; readonly zone?: string };

/** A `host:port` the client asked for, normalised. */
export interface Authority {
  readonly host: NormalizedHost;
  /** The host as one canonical string: lower-case ASCII name, or the IP in canonical form. */
  readonly hostText: string;
  readonly port: number;
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
 * Throws `egress-host-invalid` for anything that does not normalise; such a host is refused,
 * never looked up.
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

/**
 * Parses `host:port` (CONNECT request target, or the authority of an absolute URL). The port
 * is required unless `defaultPort` is given; IPv6 hosts must be bracketed.
 *
 * @example parseAuthority("[::1]:443").port === 443
 */
export function parseAuthority(raw: string, defaultPort?: number): Authority {
  let hostPart: string;
  let portPart: string | undefined;
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]");
    if (close === -1) throw invalidHost(raw, "its brackets do not match");
    hostPart = raw.slice(0, close + 1);
    const rest = raw.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) throw invalidHost(raw, "text follows the bracketed address");
      portPart = rest.slice(1);
    }
  } else {
    const colon = raw.lastIndexOf(":");
    if (colon !== -1 && raw.indexOf(":") !== colon) {
      throw invalidHost(raw, "an IPv6 address must be written in brackets");
    }
    hostPart = colon === -1 ? raw : raw.slice(0, colon);
    portPart = colon === -1 ? undefined : raw.slice(colon + 1);
  }
  let port: number;
  if (portPart === undefined) {
    if (defaultPort === undefined) {
      throw new EgressError("egress-port-invalid", `\`${printable(raw)}\` names no port`);
    }
    port = defaultPort;
  } else {
    if (!/^[0-9]{1,5}$/.test(portPart)) {
      throw new EgressError("egress-port-invalid", `port \`${printable(portPart)}\` is not a number`);
    }
    port = Number(portPart);
    if (port < 1 || port > 65535) {
      throw new EgressError("egress-port-invalid", `port \`${port}\` is out of range 1-65535`);
    }
  }
  const host = normalizeHost(hostPart);
  return { host, hostText: host.kind === "name" ? host.name : host.text, port };
}

/** Keeps attacker-controlled text in messages short and printable. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we strip
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f`]/g, "?");
  return clean.length > 100 ? `${clean.slice(0, 100)}…` : clean;
}

function invalidHost(raw: string, why: string): EgressError {
  return new EgressError("egress-host-invalid", `host \`${printable(raw)}\` is refused: ${why}`);
}

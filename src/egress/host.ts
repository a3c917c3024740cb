import { HostSyntaxError, normalizeHost as normalizeHostSyntax, parseIpLiteral, parseIPv6Literal, printable, type NormalizedHost } from "../policy/index.js";
import { EgressError } from "./errors.js";

// Host normalisation is one implementation, owned by the policy's `egress:` section (a host
// pattern must normalise exactly as a request's host does); the proxy uses it from there.
export { parseIpLiteral, parseIPv6Literal, printable };
export type { NormalizedHost };

/** A `host:port` the client asked for, normalised. */
export interface Authority {
  readonly host: NormalizedHost;
  /** The host as one canonical string: lower-case ASCII name, or the IP in canonical form. */
  readonly hostText: string;
  readonly port: number;
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
  try {
    return normalizeHostSyntax(raw);
  } catch (error) {
    if (error instanceof HostSyntaxError) throw new EgressError("egress-host-invalid", error.message);
    throw error;
  }
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

function invalidHost(raw: string, why: string): EgressError {
  return new EgressError("egress-host-invalid", `host \`${printable(raw)}\` is refused: ${why}`);
}

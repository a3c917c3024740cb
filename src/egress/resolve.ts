import { promises as dnsPromises } from "node:dns";
import { EgressError } from "./errors.js";
import type { Authority } from "./host.js";
import { classifyAddress, type AddressClassification, type AddressRanges, type ListenAddress } from "./ssrf.js";

/** One answer of a resolver. */
export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

/** Looks a name up; injected so tests can point the proxy at a local DNS server. */
export type Resolver = (hostname: string) => Promise<readonly ResolvedAddress[]>;

/**
 * The system resolver: `dns.lookup` with `all: true`, so every address is returned and checked,
 * not just the first (an attacker's name may answer one public and one private address).
 */
export const systemResolver: Resolver = async (hostname) => {
  const answers = await dnsPromises.lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * A resolver that asks the given DNS servers (`127.0.0.1:5353`) for A and AAAA records, without
 * the hosts file or the system cache. Used by tests with a local DNS server, and by deployments
 * that want the proxy to use a resolver of their choosing.
 *
 * @example const resolve = resolverForServers(["127.0.0.1:5353"])
 */
export function resolverForServers(servers: readonly string[], timeoutMs = 2_000): Resolver {
  return async (hostname) => {
    const resolver = new dnsPromises.Resolver({ timeout: timeoutMs, tries: 1 });
    resolver.setServers([...servers]);
    const settle = async (family: 4 | 6): Promise<ResolvedAddress[]> => {
      try {
        const list = family === 4 ? await resolver.resolve4(hostname) : await resolver.resolve6(hostname);
        return list.map((address) => ({ address, family }));
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === "ENODATA" || code === "ENOTFOUND") return [];
        throw error;
      }
    };
    const [v4, v6] = await Promise.all([settle(4), settle(6)]);
    return [...v4, ...v6];
  };
}

/** The outcome of resolving a destination and checking every address. */
export interface CheckedDestination {
  /** Every address, checked; all allowed when this is returned without a refusal. */
  readonly addresses: readonly AddressClassification[];
  /** The first forbidden address, when there is one: the request must be refused. */
  readonly refused?: AddressClassification;
}

/**
 * Resolves the destination once and classifies every address it got. The proxy then dials only
 * these checked addresses (never the name again), so a DNS answer that changes between check
 * and connect (rebinding) gains nothing. A name with any forbidden address is refused as a whole.
 * Lookup failure, an empty answer, or a lookup slower than `timeoutMs` throws
 * `egress-resolve-failed`.
 */
export async function resolveAndCheck(
  target: Authority,
  options: {
    readonly resolver: Resolver;
    readonly unsafeAllowAddresses: readonly string[] | AddressRanges;
    readonly self: readonly ListenAddress[];
    readonly timeoutMs: number;
  },
): Promise<CheckedDestination> {
  const classifyOne = (address: string): AddressClassification =>
    classifyAddress(address, { port: target.port, unsafeAllowAddresses: options.unsafeAllowAddresses, self: options.self });
  if (target.host.kind === "ip") {
    if (target.host.zone !== undefined) {
      const c = classifyOne(target.host.text);
      if (!c.allowed) return { addresses: [c], refused: c };
      throw new EgressError("egress-host-invalid", `IPv6 zone ids are refused (\`%${target.host.zone}\`): they only scope link-local addresses`);
    }
    const c = classifyOne(target.host.text);
    return c.allowed ? { addresses: [c] } : { addresses: [c], refused: c };
  }
  let timer: NodeJS.Timeout | undefined;
  let answers: readonly ResolvedAddress[];
  try {
    answers = await Promise.race([
      options.resolver(target.host.name),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`lookup took longer than ${options.timeoutMs} ms`)), options.timeoutMs);
      }),
    ]);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new EgressError("egress-resolve-failed", `\`${target.host.name}\` did not resolve: ${detail}`, { cause: error });
  } finally {
    clearTimeout(timer);
  }
  if (!Array.isArray(answers) || answers.length === 0) {
    throw new EgressError("egress-resolve-failed", `\`${target.host.name}\` resolved to no address`);
  }
  const addresses = answers.map((a: ResolvedAddress) => classifyOne(String(a.address)));
  const refused = addresses.find((a) => !a.allowed);
  return refused ? { addresses, refused } : { addresses };
}

import { randomBytes, webcrypto } from "node:crypto";
import { createSecureContext, type SecureContext } from "node:tls";
import { EgressError } from "./errors.js";

/**
 * Loads the X.509 libraries on first use: with their Reflect polyfill they take ~0.7 s to import,
 * and every `gatehouse` command that touches the policy (the Claude Code hook runs before each
 * tool call) would otherwise pay it. Node's module cache makes later calls free.
 */
async function loadX509() {
  // tsyringe (used inside @peculiar/x509) needs the Reflect metadata API; this import only adds it.
  await import("reflect-metadata");
  const [{ AsnConvert }, asn1, x509] = await Promise.all([
    import("@peculiar/asn1-schema"),
    import("@peculiar/asn1-x509"),
    import("@peculiar/x509"),
  ]);
  return { AsnConvert, asn1, x509 };
}

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

/** A Gatehouse-generated CA that can issue certificates only for the hosts it was made for. */
export interface LocalCa {
  /** The CA certificate (PEM) the sandbox must trust. The private key never leaves memory. */
  readonly certPem: string;
  /** The DNS names the CA is constrained to. */
  readonly hosts: readonly string[];
  /** A TLS context presenting a leaf certificate for `host` (issued once, then cached). */
  secureContextFor(host: string): Promise<SecureContext>;
}

function serial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive INTEGER (RFC 5280 §4.1.2.2)
  return bytes.toString("hex");
}

function pemKey(x509: Awaited<ReturnType<typeof loadX509>>["x509"], pkcs8: ArrayBuffer): string {
  return x509.PemConverter.encode(pkcs8, "PRIVATE KEY");
}

/**
 * Generates a local CA (ECDSA P-256) for TLS interception, valid for `validityDays`.
 *
 * Threat: a CA the sandbox trusts could mint a certificate for any site. So the CA carries a
 * critical Name Constraints extension (RFC 5280 §4.2.1.10) permitting only the credential
 * hosts: even a stolen key cannot impersonate anything else to a client that checks
 * constraints (OpenSSL, Go, browsers do). The key is generated in memory and never written out;
 * each proxy start makes a new CA.
 *
 * @example const ca = await createLocalCa({ hosts: ["api.openai.com"], now: Date.now })
 */
export async function createLocalCa(options: { readonly hosts: readonly string[]; readonly now: () => number; readonly validityDays?: number }): Promise<LocalCa> {
  const hosts = [...new Set(options.hosts)].sort();
  if (hosts.length === 0) throw new EgressError("egress-ca-failed", "a local CA needs at least one credential host");
  const crypto = webcrypto;
  const start = new Date(options.now() - 5 * 60_000);
  const end = new Date(options.now() + (options.validityDays ?? 30) * DAY_MS);
  try {
    const { AsnConvert, asn1, x509 } = await loadX509();
    const { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_nameConstraints } = asn1;
    const caKeys = (await crypto.subtle.generateKey(ALGORITHM, false, ["sign", "verify"]));
    const constraints = new NameConstraints({
      permittedSubtrees: new GeneralSubtrees(hosts.map((h) => new GeneralSubtree({ base: new GeneralName({ dNSName: h }) }))),
    });
    const ca = await x509.X509CertificateGenerator.createSelfSigned(
      {
        serialNumber: serial(),
        name: `CN=Gatehouse egress local CA ${randomBytes(4).toString("hex")}, O=Gatehouse`,
        notBefore: start,
        notAfter: end,
        keys: caKeys,
        signingAlgorithm: ALGORITHM,
        extensions: [
          new x509.BasicConstraintsExtension(true, 0, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
          new x509.Extension(id_ce_nameConstraints, true, AsnConvert.serialize(constraints)),
          await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
        ],
      },
      crypto,
    );
    const caPem = ca.toString("pem");
    // One leaf key for all hosts (as mitmproxy does): issuing is then one signature per host.
    const leafKeys = (await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]));
    const leafKeyPem = pemKey(x509, await crypto.subtle.exportKey("pkcs8", leafKeys.privateKey));
    const contexts = new Map<string, Promise<SecureContext>>();

    const issue = async (host: string): Promise<SecureContext> => {
      const leaf = await x509.X509CertificateGenerator.create(
        {
          serialNumber: serial(),
          subject: `CN=${host}`,
          issuer: ca.subject,
          notBefore: start,
          notAfter: end,
          signingKey: caKeys.privateKey,
          publicKey: leafKeys.publicKey,
          signingAlgorithm: ALGORITHM,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
            new x509.SubjectAlternativeNameExtension([{ type: "dns", value: host }], false),
            await x509.AuthorityKeyIdentifierExtension.create(ca, false, crypto),
          ],
        },
        crypto,
      );
      return createSecureContext({ key: leafKeyPem, cert: `${leaf.toString("pem")}\n${caPem}\n`, minVersion: "TLSv1.2" });
    };

    return {
      certPem: `${caPem}\n`,
      hosts,
      secureContextFor(host) {
        if (!hosts.includes(host)) {
          return Promise.reject(new EgressError("egress-ca-failed", `the local CA is not constrained to \`${host}\``));
        }
        let context = contexts.get(host);
        if (!context) {
          context = issue(host);
          contexts.set(host, context);
          context.catch(() => contexts.delete(host));
        }
        return context;
      },
    };
  } catch (error) {
    if (error instanceof EgressError) throw error;
    throw new EgressError("egress-ca-failed", `could not generate the local CA: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

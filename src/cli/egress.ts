import { InvalidArgumentError, type Command } from "commander";
import { readFile, writeFile } from "node:fs/promises";
import type { AuditEvent, AuditSink } from "../core/index.js";
import { createEgressProxy, EgressError, loadEgressPolicy, mintRunToken, parseTokenKey, type CredentialSource, type EgressPolicy } from "../egress/index.js";
import { createSecretBroker, loadSecretsConfigFile, scrubbingAuditSink, SecretError, variantsOf, type SecretsConfig } from "../secrets/index.js";
import { CliExit, type CliIO } from "./io.js";

interface EgressFlags {
  policy?: string;
  listen?: { host: string; port: number };
  caOut?: string;
  upstreamCa?: string;
}

interface TokenFlags {
  agent: string;
  run: string;
  ttl: number;
}

const KEY_ENV = "GATEHOUSE_EGRESS_KEY";

/** Parses `--listen` / `--egress-listen`: `ADDRESS:PORT` (IPv4, `[IPv6]` or `localhost`). */
export function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):([0-9]{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match?.[1] || port > 65535) throw new InvalidArgumentError("use ADDRESS:PORT, e.g. 127.0.0.1:3128");
  return { host: match[1].replace(/^\[|\]$/g, ""), port };
}

function parseTtl(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 7 * 86_400) throw new InvalidArgumentError("seconds between 1 and 604800");
  return n;
}

/** Reads `--upstream-ca`: PEM certificates, or exit 2 naming the file. */
export async function readUpstreamCa(file: string, io: CliIO): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    io.err(`gatehouse: --upstream-ca ${file}: cannot read it: ${error instanceof Error ? error.message : String(error)}`);
    throw new CliExit(2);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    io.err(`gatehouse: --upstream-ca ${file}: no PEM certificate in it\n  help: give a file with -----BEGIN CERTIFICATE----- blocks`);
    throw new CliExit(2);
  }
  return text;
}

function keyOrExit(io: CliIO): Uint8Array {
  const text = process.env[KEY_ENV];
  if (!text) {
    io.err(`gatehouse egress: ${KEY_ENV} is not set\n  help: set it to a secret of 32+ bytes (\`openssl rand -hex 32\`); the same key mints run tokens`);
    throw new CliExit(2);
  }
  try {
    return parseTokenKey(text);
  } catch (error) {
    io.err(`gatehouse egress: ${KEY_ENV}: ${error instanceof Error ? error.message : String(error)}`);
    throw new CliExit(2);
  }
}

/** Encoded forms of an injected value that responses are scrubbed of, besides the exact value. */
const scrubVariants = (value: string): readonly string[] => variantsOf(value).map((v) => v.text);

/** The pseudo-tool a secret is leased to when the egress proxy injects it (one per handle). */
const EGRESS_TOOL_PREFIX = "gatehouse.egress/";

/**
 * True when an entry of a secret's `hosts` (`name`, `*.suffix`, optionally `:port`) covers host
 * and port (any port when `port` is undefined, for the check at request time).
 */
function hostListCovers(hosts: readonly string[], host: string, port?: number): boolean {
  return hosts.some((entry) => {
    const colon = entry.lastIndexOf(":");
    const name = colon === -1 ? entry : entry.slice(0, colon);
    if (colon !== -1 && port !== undefined && Number(entry.slice(colon + 1)) !== port) return false;
    return name.startsWith("*.") ? host.endsWith(name.slice(1)) && host.length > name.length - 1 : host === name;
  });
}

/**
 * Wires the secrets module into the egress proxy: `credentialFor` resolves the secret a
 * credential rule names through a secret broker, fresh on every request (env, file or Vault;
 * minted tokens too), and refuses when the secret's own `hosts:` list does not name the host.
 * Both sides must agree before a value leaves: the `egress:` section says where to inject, the
 * `secrets:` section says where the value may go. Problems with that agreement are returned (for
 * exit 2 at startup); a secret that fails to resolve later refuses the request (502), never
 * sends it without the key. Also returns the broker's scrubber for the audit sink.
 *
 * @example
 * const wired = egressCredentialSource(policy.egress, policy.secrets, process.env);
 * if (wired.problems.length) fail(wired.problems);
 */
export function egressCredentialSource(
  egress: EgressPolicy,
  secrets: SecretsConfig | undefined,
  env: Readonly<Record<string, string | undefined>>,
): { credentialFor?: CredentialSource; wrapAudit: (sink: AuditSink) => AuditSink; check?: () => Promise<string[]>; problems: string[] } {
  const problems: string[] = [];
  const handles: NonNullable<SecretsConfig["handles"]> = {};
  const tokens: NonNullable<SecretsConfig["tokens"]> = {};
  for (const [profile, p] of Object.entries(egress.profiles)) {
    p.credentials.forEach((c, index) => {
      const where = `egress.profiles.${profile}.credentials.${index}`;
      // Own keys only: a secret named `constructor` or `__proto__` must not find Object's.
      const handle = secrets?.handles && Object.hasOwn(secrets.handles, c.secret) ? secrets.handles[c.secret] : undefined;
      const token = secrets?.tokens && Object.hasOwn(secrets.tokens, c.secret) ? secrets.tokens[c.secret] : undefined;
      const spec = handle ?? token;
      if (!spec) {
        problems.push(`${where}.secret: \`${c.secret}\` is not declared under \`secrets.handles\` or \`secrets.tokens\``);
        return;
      }
      const host = c.host.toLowerCase().replace(/\.$/, "");
      const uncovered = c.ports.filter((port) => !hostListCovers(spec.hosts ?? [], host, port));
      if (uncovered.length > 0) {
        problems.push(
          `${where}: secret \`${c.secret}\` may not be sent to \`${host}:${uncovered.join(",")}\`\n  help: add \`${host}\` to \`secrets.${handle ? "handles" : "tokens"}.${c.secret}.hosts\``,
        );
        return;
      }
      const tool = `${EGRESS_TOOL_PREFIX}${c.secret}`;
      if (handle) handles[c.secret] = { ...handle, tools: [tool] };
      else if (token) tokens[c.secret] = { ...token, tools: [tool] };
    });
  }
  const needed = Object.keys(handles).length + Object.keys(tokens).length;
  if (problems.length > 0 || needed === 0 || !secrets) return { wrapAudit: (sink) => sink, problems };
  // Only the secrets the egress section names, each bound to its own pseudo-tool: a provider
  // that is down refuses that credential only, and no other tool's secret is resolved here.
  const broker = createSecretBroker({ config: { ...secrets, handles, tokens }, env });
  const credentialFor: CredentialSource = async (host, context) => {
    const lease = await broker.secretsForTool(`${EGRESS_TOOL_PREFIX}${context.secret}`, { agent: context.agent, run: context.run });
    // Checked at startup per port; again here by name, against the lease of this very request.
    if (!hostListCovers(lease.hostsFor(context.secret), host)) {
      throw new SecretError("secret-not-bound", `secret \`${context.secret}\` may not be sent to \`${host}\``);
    }
    return lease.get(context.secret);
  };
  const check = async (): Promise<string[]> =>
    (await broker.check()).filter((s) => !s.ok).map((s) => `${s.handle}: ${s.code ?? "error"}: ${s.message ?? ""}${s.help ? `\n  help: ${s.help}` : ""}`);
  return { credentialFor, wrapAudit: (sink) => scrubbingAuditSink(sink, broker.scrubber), check, problems };
}

/**
 * Starts the egress proxy inside another command (`gatehouse serve --egress-listen`), recording
 * into that command's audit log (scrubbed of the injected secrets). Credentials come from the
 * policy's `secrets:` section, as for `gatehouse egress`. Exits 2 on a missing section, key or
 * credential problem, 1 when it cannot listen.
 */
export async function startHostedEgress(options: {
  readonly command: string;
  readonly egress: EgressPolicy | undefined;
  readonly secrets: SecretsConfig | undefined;
  readonly listen: { host: string; port: number };
  readonly audit: AuditSink;
  readonly io: CliIO;
}): Promise<{ readonly address: string; close(): Promise<void> }> {
  const { io, command } = options;
  if (!options.egress) {
    io.err(`gatehouse ${command}: --egress-listen needs an \`egress:\` section in the policy\n  help: see docs/egress.md`);
    throw new CliExit(2);
  }
  const tokenKey = keyOrExit(io);
  const wired = egressCredentialSource(options.egress, options.secrets, process.env);
  if (wired.problems.length > 0) {
    for (const problem of wired.problems) io.err(`gatehouse ${command}: ${problem}`);
    throw new CliExit(2);
  }
  for (const failed of (await wired.check?.()) ?? []) io.err(`gatehouse ${command}: warning: secret ${failed}`);
  try {
    const proxy = await createEgressProxy({
      policy: options.egress,
      tokenKey,
      audit: wired.wrapAudit(options.audit),
      ...(wired.credentialFor ? { credentialFor: wired.credentialFor, scrubVariants } : {}),
      onError: (error) => io.err(`gatehouse ${command}: egress: ${error instanceof Error ? error.message : String(error)}`),
    });
    const bound = await proxy.listen(options.listen);
    return { address: `${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`, close: () => proxy.close() };
  } catch (error) {
    if (error instanceof EgressError) {
      io.err(`gatehouse ${command}: ${error.code}: ${error.message}`);
      throw new CliExit(error.code === "egress-config-invalid" ? 2 : 1);
    }
    throw error;
  }
}

/** `gatehouse egress`: run the egress proxy; `gatehouse egress token`: mint a run token. */
export function registerEgressCommand(program: Command, io: CliIO): void {
  const egress = program
    .command("egress")
    .description("run the egress proxy: default-deny outbound HTTP(S) for agents, SSRF guard, credential injection")
    .option("--policy <file>", "policy file with an `egress:` section (required)")
    .option("--listen <address:port>", "where to listen (default: the policy's `listen`, else 127.0.0.1:3128)", parseListen)
    .option("--ca-out <file>", "write the local interception CA certificate (PEM) here for the sandbox to trust")
    .option("--upstream-ca <file>", "extra CA certificates (PEM) trusted for intercepted upstreams, besides the system roots (private PKI)")
    .addHelpText(
      "after",
      `\nAgents authenticate with proxy credentials AGENT:RUN_TOKEN (mint with \`gatehouse egress token\`).\n${KEY_ENV} holds the token key. Audit events are printed as JSON lines on stdout.`,
    )
    .action(async (flags: EgressFlags) => {
      if (flags.policy === undefined) {
        io.err("gatehouse egress: --policy <file> is required\n  help: gatehouse egress --policy gatehouse.yaml");
        throw new CliExit(2);
      }
      const tokenKey = keyOrExit(io);
      try {
        const policy = await loadEgressPolicy(flags.policy);
        const named = Object.values(policy.profiles).some((p) => p.credentials.length > 0);
        const wired = egressCredentialSource(policy, named ? await loadSecretsConfigFile(flags.policy) : undefined, process.env);
        if (wired.problems.length > 0) {
          for (const problem of wired.problems) io.err(`gatehouse egress: ${flags.policy}: ${problem}`);
          throw new CliExit(2);
        }
        for (const failed of (await wired.check?.()) ?? []) {
          io.err(`gatehouse egress: warning: secret ${failed}\n  requests that need it are refused (502) until it resolves`);
        }
        const upstreamCa = flags.upstreamCa === undefined ? undefined : await readUpstreamCa(flags.upstreamCa, io);
        const proxy = await createEgressProxy({
          policy,
          tokenKey,
          audit: wired.wrapAudit({
            append(event: AuditEvent) {
              io.out(JSON.stringify(event));
              return Promise.resolve();
            },
          }),
          ...(wired.credentialFor ? { credentialFor: wired.credentialFor, scrubVariants } : {}),
          ...(upstreamCa ? { upstreamCa } : {}),
          onError: (error) => io.err(`gatehouse egress: ${error instanceof Error ? error.message : String(error)}`),
        });
        if (flags.caOut && proxy.caCertPem) await writeFile(flags.caOut, proxy.caCertPem, { mode: 0o644 });
        const bound = await proxy.listen(flags.listen);
        io.err(`gatehouse egress: listening on ${bound.address.includes(":") ? `[${bound.address}]` : bound.address}:${bound.port}`);
        await new Promise<void>((resolve) => {
          const stop = (): void => {
            process.off("SIGINT", stop);
            process.off("SIGTERM", stop);
            resolve();
          };
          process.on("SIGINT", stop);
          process.on("SIGTERM", stop);
        });
        await proxy.close();
      } catch (error) {
        if (error instanceof CliExit) throw error;
        if (error instanceof SecretError) {
          io.err(`gatehouse egress: ${error.code}: ${error.message}`);
          throw new CliExit(2);
        }
        if (error instanceof EgressError) {
          io.err(`gatehouse egress: ${error.code}: ${error.message}`);
          throw new CliExit(error.code === "egress-config-invalid" ? 2 : 1);
        }
        throw error;
      }
    });

  egress
    .command("token")
    .description(`mint a run token (the proxy password) for one agent and run, with the key in ${KEY_ENV}`)
    .requiredOption("--agent <name>", "the agent")
    .requiredOption("--run <id>", "the run id (letters, digits, _ : -)")
    .option("--ttl <seconds>", "how long the token is valid", parseTtl, 3_600)
    .action((flags: TokenFlags) => {
      const key = keyOrExit(io);
      try {
        io.out(mintRunToken(key, { agent: flags.agent, run: flags.run, expiresAt: Date.now() + flags.ttl * 1_000 }));
      } catch (error) {
        io.err(`gatehouse egress token: ${error instanceof Error ? error.message : String(error)}`);
        throw new CliExit(2);
      }
    });
}

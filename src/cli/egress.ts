import { InvalidArgumentError, type Command } from "commander";
import { writeFile } from "node:fs/promises";
import type { AuditEvent } from "../core/index.js";
import { createEgressProxy, EgressError, loadEgressPolicy, mintRunToken, parseTokenKey } from "../egress/index.js";
import { CliExit, type CliIO } from "./io.js";

interface EgressFlags {
  policy?: string;
  listen?: { host: string; port: number };
  caOut?: string;
}

interface TokenFlags {
  agent: string;
  run: string;
  ttl: number;
}

const KEY_ENV = "GATEHOUSE_EGRESS_KEY";

function parseListen(value: string): { host: string; port: number } {
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

/** `gatehouse egress`: run the egress proxy; `gatehouse egress token`: mint a run token. */
export function registerEgressCommand(program: Command, io: CliIO): void {
  const egress = program
    .command("egress")
    .description("run the egress proxy: default-deny outbound HTTP(S) for agents, SSRF guard, credential injection")
    .option("--policy <file>", "policy file with an `egress:` section (required)")
    .option("--listen <address:port>", "where to listen (default: the policy's `listen`, else 127.0.0.1:3128)", parseListen)
    .option("--ca-out <file>", "write the local interception CA certificate (PEM) here for the sandbox to trust")
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
        if (Object.values(policy.profiles).some((p) => p.credentials.length > 0)) {
          io.err("gatehouse egress: the policy names credentials, but no secret provider is wired into this command yet\n  help: remove `credentials:` for now, or host the proxy from code with `credentialFor`");
          throw new CliExit(1);
        }
        const proxy = await createEgressProxy({
          policy,
          tokenKey,
          audit: {
            append(event: AuditEvent) {
              io.out(JSON.stringify(event));
              return Promise.resolve();
            },
          },
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

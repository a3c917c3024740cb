import { createHash, timingSafeEqual } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import type { Command } from "commander";
import { parse as parseYaml } from "yaml";
import { approvalsFromConfig, type Approvals } from "../approvals/index.js";
import { AUDIT_FILES, AuditError, defaultDataDir, openAuditLog, readSigningKeyFile, type DurableAuditLog } from "../audit/index.js";
import type { AuditSink } from "../core/index.js";
import {
  createFilePinStore,
  createMcpHttpHandler,
  GuardedStdioServerTransport,
  McpGatewayError,
  parseMcpConfig,
  serveGatewayStdio,
  startMcpGateway,
  type McpConfig,
  type McpServerConfig,
} from "../integrations/index.js";
import { scrubberForSecrets } from "../secrets/index.js";
import { isLoopbackHost } from "../server/index.js";
import { openSqliteApprovalStore, StoreError } from "../store/index.js";
import { CliExit, type CliIO } from "./io.js";
import { loadOrExit } from "./policy.js";
import type { CompiledPolicy } from "../policy/index.js";

interface McpFlags {
  policy: string;
  agent?: string;
  upstream?: string;
  transport?: "auto" | "streamable-http" | "sse";
  config?: string;
  name: string;
  env?: string[];
  exposeUnlisted?: boolean;
  clientRequests?: string[];
  pins?: string;
  dataDir?: string;
  http?: string;
  elicitationApprover?: string;
}

/** The approvals database in the data directory (shared with `gatehouse serve`, which answers requests). */
const APPROVALS_FILE = "approvals.db";

/** Default pin file name inside Gatehouse's data directory. */
const PIN_FILE = "mcp-pins.json";

/**
 * `gatehouse mcp [--policy FILE] -- COMMAND ARGS...` (wrap one stdio server), `gatehouse mcp
 * --upstream URL` (one remote server), `gatehouse mcp --config FILE` (several servers from an
 * `mcp:` section); served over stdio, or over Streamable HTTP with `--http PORT`. Plus
 * `gatehouse mcp pins list|approve`.
 */
export function registerMcpCommand(program: Command, io: CliIO): void {
  const mcp = program
    .command("mcp")
    .description("serve MCP servers through the Gate: every tool call decided, recorded and filtered")
    .argument("[command...]", "the stdio MCP server to wrap and its arguments, after `--`")
    .option("--policy <file>", "the policy file", "gatehouse.yaml")
    .option("--agent <name>", "the agent the client acts as (default: the policy's only agent)")
    .option("--upstream <url>", "a remote MCP server (Streamable HTTP, falling back to HTTP+SSE)")
    .option("--transport <kind>", "for --upstream: auto, streamable-http or sse", "auto")
    .option("--config <file>", "a YAML or JSON file with an `mcp:` section listing several servers")
    .option("--name <name>", "the server's name in single-server mode (pins and audit use it)", "upstream")
    .option("--env <names...>", "environment variables the wrapped server may see (besides PATH, HOME...)")
    .option("--expose-unlisted", "serve tools the policy does not list, risk seeded from their annotations")
    .option("--client-requests <kinds...>", "requests the server may send to the client: sampling, elicitation, roots (default none)")
    .option("--pins <file>", `the pin file (default: ${PIN_FILE} in the data directory)`)
    .option("--data-dir <dir>", "Gatehouse's data directory (audit log, pins)")
    .option("--http <port>", "serve Streamable HTTP on 127.0.0.1:PORT at /mcp instead of stdio; clients send `Authorization: Bearer $GATEHOUSE_MCP_TOKEN`")
    .option("--elicitation-approver <name>", "answer approvals through the client's elicitation dialog, as this approver identity")
    .action(async (command: string[], flags: McpFlags) => {
      if (sourceCount(command, flags) > 1) usageExit(io);
      const policy = await loadOrExit(flags.policy, io);
      // Over HTTP any local process could otherwise act as the agent (and answer its own elicitations).
      const httpToken = flags.http === undefined ? undefined : agentTokenDigest(policy, "gatehouse mcp: --http", io, process.env);
      const config = await configFrom(command, flags, io, policy);
      const dataDir = flags.dataDir ?? defaultDataDir();
      const audit = await openLog(dataDir, io);
      const log = (line: string) => io.err(`gatehouse mcp: ${line}`);
      const scrubber = await scrubberForSecrets(policy.file.secrets);
      // With an `approvers:` section, an `ask` becomes a durable request in the data directory's
      // approvals database; without one, an `ask` can never be answered and the call does not run.
      const approvalsSetup = policy.file.approvers
        ? approvalsFromConfig({
            approvers: policy.file.approvers,
            approvals: policy.file.approvals,
            store: openSqliteApprovalStore(join(dataDir, APPROVALS_FILE)),
            audit,
          })
        : undefined;
      let gateway;
      try {
        gateway = await startMcpGateway({
          policy,
          audit,
          servers: config.servers,
          pins: createFilePinStore(config.pins ?? flags.pins ?? join(dataDir, PIN_FILE)),
          ...(flags.agent === undefined ? {} : { agent: flags.agent }),
          ...(config.namespace === undefined ? {} : { namespace: config.namespace }),
          scrub: (value) => scrubber.scrubValue(value),
          ...(approvalsSetup ? { checks: [approvalsSetup.approvals.check], approvals: approvalsSetup.approvals } : {}),
          ...(flags.elicitationApprover === undefined ? {} : { elicitationApprover: flags.elicitationApprover }),
          log,
        });
      } catch (error) {
        await audit.close().catch(() => undefined);
        if (error instanceof McpGatewayError) fail(io, error, 1);
        throw error;
      }
      const served = gateway.catalog();
      log(`serving ${served.tools.size} tool(s) from ${gateway.upstreams().length} server(s); ${served.blocked.size} blocked`);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
        if (flags.http !== undefined) {
          const port = Number(flags.http);
          const handler = createMcpHttpHandler(gateway, { log });
          const server = createServer((req, res) => {
            if (req.url?.split("?")[0] !== "/mcp") res.writeHead(404).end();
            else if (httpToken && authorized(req, res, httpToken)) handler(req, res);
          });
          server.listen(port, "127.0.0.1", () => {
            const address = server.address();
            log(`listening on http://127.0.0.1:${typeof address === "object" && address ? address.port : port}/mcp`);
          });
          process.once("SIGINT", () => server.close());
          process.once("SIGTERM", () => server.close());
          return;
        }
        const transport = new GuardedStdioServerTransport(process.stdin, process.stdout, { onRefused: (why) => log(`refused a message: ${why}`) });
        serveGatewayStdio(gateway, transport, (error) => log(`client connection: ${error.message}`)).then(stop, (error: unknown) => {
          log(`cannot serve stdio: ${error instanceof Error ? error.message : String(error)}`);
          stop();
        });
      });
      await gateway.close();
      await audit.close().catch(() => undefined);
    });

  const pins = mcp.command("pins").description("the pinned tool definitions of MCP servers (rug-pull protection)");
  pins
    .command("list")
    .description("list every pinned tool; `blocked` ones wait for a human")
    .option("--pins <file>", "the pin file")
    .option("--data-dir <dir>", "Gatehouse's data directory")
    .option("--json", "print one JSON object per line")
    .action(async (_flags: unknown, cmd: Command) => {
      // `--pins` and `--data-dir` are also options of `mcp` itself, which commander parses first.
      const flags = cmd.optsWithGlobals<{ pins?: string; dataDir?: string; json?: boolean }>();
      const store = createFilePinStore(flags.pins ?? join(flags.dataDir ?? defaultDataDir(), PIN_FILE));
      const rows = await orFail(io, () => store.list());
      for (const row of rows) {
        if (flags.json) io.out(JSON.stringify(row));
        else {
          io.out(`${row.state.padEnd(8)} ${row.server}/${row.tool}${row.reason ? ` (${row.reason})` : ""}`);
          if (row.state !== "blocked") continue;
          for (const finding of row.findings ?? []) io.out(`         ${finding.kind} in ${finding.field}: ${finding.excerpt}`);
          if (row.candidateSource !== undefined) io.out(`         the server moved: approved at \`${row.source ?? "?"}\`, now at \`${row.candidateSource}\``);
          // What the human reviews, and the digest that names exactly this definition.
          // Escaped to ASCII: invisible and bidirectional characters must not hide text from the reviewer.
          io.out(`         definition waiting: ${asciiJson(row.candidateDefinition ?? null)}`);
          io.out(`         approve it with: gatehouse mcp pins approve ${row.server} ${row.tool} --digest ${row.candidate}`);
        }
      }
      if (rows.length === 0 && !flags.json) io.out("no pinned tools");
    });
  pins
    .command("approve")
    .description("approve the waiting definition of a tool, named by the digest you reviewed in `pins list`")
    .argument("<server>", "the server's name")
    .argument("<tool>", "the tool's name as the server gives it")
    .requiredOption("--digest <sha256>", "the digest of the definition you reviewed (`pins list` shows it); refused if what waits now differs")
    .option("--pins <file>", "the pin file")
    .option("--data-dir <dir>", "Gatehouse's data directory")
    .option("--by <name>", "who approves (recorded in the pin file)", process.env.USER ?? "operator")
    .action(async (server: string, tool: string, _flags: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals<{ pins?: string; dataDir?: string; by: string; digest: string }>();
      if (!/^[0-9a-f]{64}$/.test(flags.digest)) {
        io.err(`gatehouse mcp pins approve: --digest \`${flags.digest.slice(0, 80)}\` is not a SHA-256 hex digest\n  help: copy it from \`gatehouse mcp pins list\``);
        throw new CliExit(2);
      }
      const dataDir = flags.dataDir ?? defaultDataDir();
      // Approving a definition widens what the model is shown and may call: it is recorded, and
      // not done at all when it cannot be.
      const audit = await openLog(dataDir, io);
      try {
        const store = createFilePinStore(flags.pins ?? join(dataDir, PIN_FILE));
        const row = await orFail(io, () => store.approve(server, tool, flags.by, flags.digest));
        await audit.append({
          type: "approval",
          time: new Date().toISOString(),
          action: `mcp-pin:${server}/${tool}@${flags.digest}`,
          tool: `${server}__${tool}`,
          approval: { step: "approved", id: flags.digest, by: flags.by, reason: "MCP tool definition approved with `gatehouse mcp pins approve`" },
        });
        io.out(`approved ${row.server}/${row.tool} (${row.approved})`);
      } finally {
        await audit.close().catch(() => undefined);
      }
    });
}

function sourceCount(command: string[], flags: McpFlags): number {
  return [command.length > 0, flags.upstream !== undefined, flags.config !== undefined].filter(Boolean).length;
}

function usageExit(io: CliIO): never {
  io.err(
    "gatehouse mcp: give exactly one of `-- COMMAND ARGS...`, `--upstream URL` or `--config FILE` (or an `mcp:` section with servers in the policy)\n  help: e.g. `gatehouse mcp --policy gatehouse.yaml -- npx @modelcontextprotocol/server-filesystem /srv`",
  );
  throw new CliExit(2);
}

async function configFrom(command: string[], flags: McpFlags, io: CliIO, policy: CompiledPolicy): Promise<McpConfig> {
  const sources = sourceCount(command, flags);
  // No source on the command line: the policy's own `mcp:` section, when it lists servers.
  if (sources === 0 && policy.file.mcp && policy.file.mcp.servers.length > 0) return policy.file.mcp;
  if (sources !== 1) usageExit(io);
  try {
    if (flags.config !== undefined) {
      let data: unknown;
      try {
        data = parseYaml(await readFile(flags.config, "utf8"));
      } catch (error) {
        throw new McpGatewayError("mcp-config-invalid", `cannot read \`${flags.config}\`: ${error instanceof Error ? error.message : String(error)}`, "check the path and the YAML");
      }
      const section = typeof data === "object" && data !== null && "mcp" in data ? (data).mcp : undefined;
      if (section === undefined) throw new McpGatewayError("mcp-config-invalid", `\`${flags.config}\` has no \`mcp:\` section`, "add `mcp: { servers: [...] }`");
      return parseMcpConfig(section, `${flags.config}: mcp`);
    }
    const server: Record<string, unknown> = { name: flags.name };
    if (command.length > 0) Object.assign(server, { command: command[0], args: command.slice(1), ...(flags.env ? { env: flags.env } : {}) });
    else Object.assign(server, { url: flags.upstream, transport: flags.transport });
    if (flags.exposeUnlisted) server.exposeUnlisted = true;
    if (flags.clientRequests) server.clientRequests = flags.clientRequests;
    return parseMcpConfig({ servers: [server as McpServerConfig] }, "flags");
  } catch (error) {
    if (error instanceof McpGatewayError) fail(io, error, 2);
    throw error;
  }
}

/** JSON with every character outside printable ASCII written as a `\\uXXXX` escape. */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

async function orFail<T>(io: CliIO, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof McpGatewayError) fail(io, error, 1);
    throw error;
  }
}

function fail(io: CliIO, error: McpGatewayError, code: number): never {
  io.err(`gatehouse mcp: ${error.message}${error.help ? `\n  help: ${error.help}` : ""}`);
  io.err(JSON.stringify({ gatehouse: "refused", code: error.code, message: error.message }));
  throw new CliExit(code);
}

async function openLog(dataDir: string, io: CliIO): Promise<DurableAuditLog> {
  try {
    const signingKey = readSigningKeyFile(join(dataDir, AUDIT_FILES.signingKey));
    return await openAuditLog({ path: join(dataDir, AUDIT_FILES.database), signingKey });
  } catch (error) {
    if (error instanceof AuditError || error instanceof StoreError) {
      io.err(`gatehouse mcp: the audit log cannot be opened: ${error.message}\n  help: create it with \`gatehouse audit keygen\`; nothing runs unrecorded`);
      throw new CliExit(1);
    }
    throw error;
  }
}

/** The environment variable holding the bearer token MCP clients of `gatehouse serve --mcp-listen` send. */
export const MCP_TOKEN_ENV = "GATEHOUSE_MCP_TOKEN";

/**
 * The SHA-256 of the bearer token MCP clients must send (`$GATEHOUSE_MCP_TOKEN`); exits 2 when it
 * is missing, short, or an approver's token (an agent holding it could approve its own requests).
 */
function agentTokenDigest(policy: CompiledPolicy, what: string, io: CliIO, env: Readonly<Record<string, string | undefined>>): Buffer {
  const token = env[MCP_TOKEN_ENV];
  if (token === undefined || token.length < 16) {
    io.err(`${what} needs ${MCP_TOKEN_ENV} (a random secret of at least 16 characters) that MCP clients send as \`Authorization: Bearer <token>\`\n  help: e.g. export ${MCP_TOKEN_ENV}=$(openssl rand -hex 32)`);
    throw new CliExit(2);
  }
  const expected = createHash("sha256").update(token, "utf8").digest();
  const shared = Object.entries(policy.file.approvers ?? {}).find(([, approver]) => approver.tokenSha256 === expected.toString("hex"));
  if (shared) {
    io.err(`${what}: ${MCP_TOKEN_ENV} is approver \`${shared[0]}\`'s token; an agent holding it could approve its own requests\n  help: give MCP clients a token of their own`);
    throw new CliExit(2);
  }
  return expected;
}

/** Checks `Authorization: Bearer …` against the token's digest in constant time; answers 401 otherwise. */
function authorized(req: IncomingMessage, res: ServerResponse, expected: Buffer): boolean {
  const match = /^bearer ([\x21-\x7e]{1,1024})$/i.exec(req.headers.authorization ?? "");
  const given = match ? createHash("sha256").update(match[1]!, "utf8").digest() : undefined;
  if (given && timingSafeEqual(given, expected)) return true;
  req.resume();
  res
    .writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="gatehouse-mcp"' })
    .end(JSON.stringify({ error: { code: "http-unauthorized", message: `missing or wrong bearer token; send \`Authorization: Bearer <${MCP_TOKEN_ENV}>\`` } }));
  return false;
}

/**
 * `gatehouse serve --mcp-listen ADDRESS:PORT`: hosts the multi-server gateway (the policy's `mcp:`
 * section) over Streamable HTTP at `/mcp`, on serve's audit log and approvals, so an `ask` is
 * answered through serve's approvals API and the agent's retry then runs. Every request must carry
 * `Authorization: Bearer $GATEHOUSE_MCP_TOKEN` (401 otherwise, as serve's API answers): the
 * agent's credential is its own, never an approver's token, which could approve its own requests.
 * Exits 2 without an `mcp:` section or a token, 1 when no upstream can be reached.
 */
export async function startHostedMcp(options: {
  readonly command: string;
  readonly policy: CompiledPolicy;
  readonly audit: AuditSink;
  readonly approvals: Approvals | undefined;
  readonly listen: { host: string; port: number };
  readonly agent?: string | undefined;
  readonly dataDir?: string;
  readonly io: CliIO;
  readonly env?: Readonly<Record<string, string | undefined>>;
}): Promise<{ readonly url: string; close(): Promise<void> }> {
  const { io, command, policy } = options;
  const section = policy.file.mcp;
  if (!section || section.servers.length === 0) {
    io.err(`gatehouse ${command}: --mcp-listen needs an \`mcp:\` section with servers in the policy\n  help: see docs/mcp.md`);
    throw new CliExit(2);
  }
  const expected = agentTokenDigest(policy, `gatehouse ${command}: --mcp-listen`, io, options.env ?? process.env);
  const log = (line: string) => io.err(`gatehouse ${command}: mcp: ${line}`);
  const scrubber = await scrubberForSecrets(policy.file.secrets);
  let gateway;
  try {
    gateway = await startMcpGateway({
      policy,
      audit: options.audit,
      servers: section.servers,
      pins: createFilePinStore(section.pins ?? join(options.dataDir ?? defaultDataDir(), PIN_FILE)),
      ...(options.agent === undefined ? {} : { agent: options.agent }),
      ...(section.namespace === undefined ? {} : { namespace: section.namespace }),
      scrub: (value) => scrubber.scrubValue(value),
      ...(options.approvals && policy.file.approvers ? { checks: [options.approvals.check], approvals: options.approvals } : {}),
      log,
    });
  } catch (error) {
    if (error instanceof McpGatewayError) fail(io, error, 1);
    throw error;
  }
  const loopback = isLoopbackHost(options.listen.host);
  // Off loopback the Host header names however clients reach this machine; the bearer token, not
  // the Host check (a defence against DNS rebinding of local servers), is what keeps others out.
  const handler = createMcpHttpHandler(gateway, { log, ...(loopback ? {} : { allowedHosts: "any" as const }) });
  const server = createServer((req, res) => {
    if (req.url?.split("?")[0] !== "/mcp") {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "http-not-found", message: "the MCP endpoint is /mcp" } }));
      return;
    }
    if (authorized(req, res, expected)) handler(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.listen.port, options.listen.host, resolve);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.listen.port;
  const host = options.listen.host.includes(":") ? `[${options.listen.host}]` : options.listen.host;
  const served = gateway.catalog();
  log(`serving ${served.tools.size} tool(s) from ${gateway.upstreams().length} server(s); ${served.blocked.size} blocked`);
  return {
    url: `http://${host}:${port}/mcp`,
    async close() {
      await handler.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await gateway.close();
    },
  };
}

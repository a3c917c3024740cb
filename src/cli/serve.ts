import { join } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import { ApprovalError, approvalsFromConfig, readOrCreateLinkKey } from "../approvals/index.js";
import { AUDIT_FILES, AuditError, defaultDataDir, openAuditLog, readSigningKeyFile } from "../audit/index.js";
import { createControlServer, ServerError } from "../server/index.js";
import { openPostgresApprovalStore, openSqliteApprovalStore, StoreError, type ApprovalStore } from "../store/index.js";
import { CliExit, type CliIO } from "./io.js";
import { loadOrExit } from "./policy.js";

interface ServeFlags {
  policy: string;
  db?: string;
  postgres?: string;
  pgSchema: string;
  host: string;
  port: number;
  linkKey?: string;
  auditDb?: string;
  auditKey?: string;
  maxBodyBytes: number;
  egressListen?: { host: string; port: number };
  mcpListen?: { host: string; port: number };
  mcpAgent?: string;
}

/**
 * `gatehouse serve`: the control-plane server (approvals JSON API and webhook link pages) over
 * the approvals store (SQLite file or PostgreSQL) and the durable audit log. Runs until SIGINT or
 * SIGTERM.
 */
export function registerServeCommand(program: Command, io: CliIO, signals: NodeJS.EventEmitter = process): void {
  program
    .command("serve")
    .description("run the control-plane server: approvals API and signed-link pages (default 127.0.0.1:8470, token-authenticated)")
    .addOption(new Option("--policy <file>", "the policy file (approvers, approvals settings)").default("gatehouse.yaml"))
    .option("--db <file>", "the SQLite approvals database (default: <data dir>/approvals.db)")
    .option("--postgres <url>", "use PostgreSQL for approvals instead of SQLite, e.g. postgres://gatehouse@db/gatehouse")
    .option("--pg-schema <name>", "the PostgreSQL schema for the approvals tables", "gatehouse")
    .option("--host <address>", "the address to listen on; a non-loopback address needs approver tokens", "127.0.0.1")
    .option("--port <n>", "the port to listen on", port, 8470)
    .option("--link-key <file>", "the webhook link-signing key, created if missing (default: <data dir>/approvals-link.key)")
    .option("--audit-db <file>", "the audit database (default: <data dir>/audit.db)")
    .option("--audit-key <file>", "the audit log's signing key (default: <data dir>/audit.key)")
    .option("--max-body-bytes <n>", "the largest request body accepted", port, 65536)
    .option("--mcp-listen <address:port>", "also host the MCP gateway (the policy's `mcp:` section) at /mcp here; needs GATEHOUSE_MCP_TOKEN", parseEgressListen)
    .option("--mcp-agent <name>", "with --mcp-listen: the agent MCP clients act as (default: the policy's only agent)")
    .option("--egress-listen <address:port>", "also host the egress proxy (the policy's `egress:` section) here, on the same audit log; needs GATEHOUSE_EGRESS_KEY", parseEgressListen)
    .action(async (opts: ServeFlags) => {
      if (opts.db !== undefined && opts.postgres !== undefined) {
        io.err("gatehouse serve: give --db or --postgres, not both");
        throw new CliExit(2);
      }
      const policy = await loadOrExit(opts.policy, io);
      const dataDir = defaultDataDir();
      const closers: (() => Promise<void>)[] = [];
      try {
        const audit = await openAuditLog({
          path: opts.auditDb ?? join(dataDir, AUDIT_FILES.database),
          signingKey: readSigningKeyFile(opts.auditKey ?? join(dataDir, AUDIT_FILES.signingKey)),
        });
        closers.push(() => audit.close());
        const store: ApprovalStore = opts.postgres
          ? await openPostgresApprovalStore({ connectionString: opts.postgres, schema: opts.pgSchema })
          : openSqliteApprovalStore(opts.db ?? join(dataDir, "approvals.db"));
        closers.push(() => store.close());
        const linkKey = readOrCreateLinkKey(opts.linkKey ?? join(dataDir, "approvals-link.key"));
        const { approvals, directory } = approvalsFromConfig({
          approvers: policy.file.approvers,
          approvals: policy.file.approvals,
          store,
          audit,
          linkKey,
        });
        const server = await createControlServer({ approvals, approvers: directory, linkKey, host: opts.host, port: opts.port, maxBodyBytes: opts.maxBodyBytes });
        closers.unshift(() => server.close());
        if (opts.egressListen) {
          // Loaded only when asked for: serve does not pay for the proxy's X.509 stack otherwise.
          const { startHostedEgress } = await import("./egress.js");
          const egress = await startHostedEgress({ command: "serve", egress: policy.file.egress, secrets: policy.file.secrets, listen: opts.egressListen, audit, io });
          closers.unshift(() => egress.close());
          io.out(`gatehouse serve: egress proxy listening on ${egress.address}`);
        }
        if (opts.mcpListen) {
          // Loaded only when asked for: the MCP SDK is not part of serve's start-up otherwise.
          const { startHostedMcp } = await import("./mcp.js");
          const mcp = await startHostedMcp({ command: "serve", policy, audit, approvals, listen: opts.mcpListen, agent: opts.mcpAgent, io });
          closers.unshift(() => mcp.close());
          io.out(`gatehouse serve: MCP gateway listening on ${mcp.url}`);
        }
        io.out(`gatehouse serve: listening on ${server.url}`);
        await new Promise<void>((resolve) => {
          signals.once("SIGINT", resolve);
          signals.once("SIGTERM", resolve);
        });
      } catch (error) {
        if (error instanceof ServerError || error instanceof StoreError || error instanceof ApprovalError || error instanceof AuditError) {
          io.err(`gatehouse serve: ${error.code}: ${error.message}`);
          throw new CliExit(1);
        }
        throw error;
      } finally {
        for (const close of closers) await close().catch(() => undefined);
      }
    });
}

/** `ADDRESS:PORT` for `--egress-listen` / `--mcp-listen` (IPv4, `[IPv6]` or `localhost`). */
function parseEgressListen(value: string): { host: string; port: number } {
  const match = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+|localhost):([0-9]{1,5})$/.exec(value);
  const n = Number(match?.[2]);
  if (!match?.[1] || n > 65535) throw new InvalidArgumentError("use ADDRESS:PORT, e.g. 127.0.0.1:3128");
  return { host: match[1].replace(/^\[|\]$/g, ""), port: n };
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("give a whole number from 0 to 65535");
  return n;
}

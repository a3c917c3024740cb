import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { AUDIT_FILES, AuditError, defaultDataDir, openAuditLog, readSigningKeyFile, type DurableAuditLog } from "../audit/writer.js";
import { createSandbox, formatViolation, loadSandboxPolicy, probeHost, SandboxError, type SandboxDeps, type SandboxPolicy } from "../sandbox/index.js";
import { StoreError } from "../store/writer.js";
import { CliExit, type CliIO } from "./io.js";

interface RunFlags {
  profile?: string;
  policy?: string;
  proxy?: string;
  json?: boolean;
  widen: string[];
  agent?: string;
  approvalsDb?: string;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** Exit code of a refusal that is the caller's mistake (usage), as opposed to a refused run (1). */
const USAGE_CODES = new Set(["command-missing", "profile-unknown"]);

/**
 * `gatehouse run [--profile NAME] [--policy FILE] -- COMMAND ARGS...`: runs one command in the
 * sandbox and exits with its exit code. Output streams through unchanged; violations are printed
 * on stderr as JSON lines (`{"gatehouse":"violation",...}`); the run is recorded in the audit log
 * of the data directory (no signing key there means no run: nothing runs unrecorded).
 */
export function registerRunCommand(program: Command, io: CliIO): void {
  program
    .command("run")
    .description("run one command in the OS sandbox: no network, no secrets, limited resources")
    .argument("[command...]", "the command and its arguments, after `--`")
    .option("--profile <name>", "sandbox profile (built-ins: readonly, build, networked; default build)")
    .option("--policy <file>", "policy file whose `sandbox:` section defines profiles")
    .option("--proxy <socket|host:port>", "where the egress proxy listens: a Unix socket path or a loopback host:port (for `network: proxy` profiles)")
    .option("--json", "print the result (exit code, violations, usage) as one JSON line on stderr")
    .option("--widen <what>", "widen the profile for this run, under an approver's grant: network, readable=PATH, writable=PATH, writable-protected=REL (repeatable)", collect, [])
    .option("--agent <name>", "the agent the run acts as: who asks for a widening, and whose egress allow-list applies (with GATEHOUSE_EGRESS_KEY)", "sandbox")
    .option("--approvals-db <file>", "the SQLite approvals database that holds grants (default: <data dir>/approvals.db, as `gatehouse serve`)")
    .action(async (command: string[], flags: RunFlags) => {
      const refuse = (error: SandboxError): never => {
        io.err(`gatehouse run: ${error.message}${error.help ? `\n  help: ${error.help}` : ""}`);
        io.err(JSON.stringify({ gatehouse: "refused", code: error.code, message: error.message }));
        throw new CliExit(USAGE_CODES.has(error.code) ? 2 : 1);
      };
      if (command.length === 0) refuse(new SandboxError("command-missing", "no command to run", "give the command after `--`, e.g. `gatehouse run -- npm test`"));
      let policy: SandboxPolicy | undefined;
      try {
        if (flags.policy !== undefined) policy = await loadSandboxPolicy(flags.policy, dirname(resolve(flags.policy)));
      } catch (error) {
        if (error instanceof SandboxError) refuse(error);
        throw error;
      }
      const dataDir = defaultDataDir();
      const log = await openLog(dataDir, io);
      let drain = (): Promise<void> => Promise.resolve();
      let closeApprovals = (): Promise<void> => Promise.resolve();
      try {
        // Only a widening needs the approvals store (loaded on demand: most runs never widen).
        let approvals: SandboxDeps["approvals"];
        if (flags.widen.length > 0) {
          const opened = await openApprovals(flags.approvalsDb ?? join(dataDir, "approvals.db"), log, io);
          approvals = opened.approvals;
          closeApprovals = opened.close;
        }
        const egressCredentials = await egressCredentialsFromEnv(flags.agent ?? "sandbox", io);
        const sandbox = createSandbox({
          auditSink: log,
          ...(egressCredentials ? { egressCredentials } : {}),
          dataDir,
          host: probeHost({ spawnChecks: false }),
          ...(policy ? { policy } : {}),
          ...(approvals ? { approvals } : {}),
          ...(flags.proxy ? { proxy: flags.proxy.startsWith("/") ? { socket: flags.proxy } : { address: flags.proxy } } : {}),
          // An approvals database outside the data directory is masked like the data directory:
          // a run that could write it could grant itself the next widening.
          ...(flags.approvalsDb !== undefined ? { hiddenFiles: [resolve(flags.approvalsDb)] } : {}),
        });
        drain = () => sandbox.drain();
        const result = await sandbox.run(command, {
          ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
          ...(flags.widen.length > 0 ? { widen: flags.widen, agent: flags.agent ?? "sandbox" } : {}),
          cwd: process.cwd(),
          onStdout: (chunk) => process.stdout.write(chunk),
          onStderr: (chunk) => process.stderr.write(chunk),
          onWarning: (message) => io.err(`gatehouse run: WARNING: ${message}`),
          onViolation: (violation, runId) => io.err(formatViolation(runId, command, violation)),
        }).catch((error: unknown) => {
          if (error instanceof SandboxError) refuse(error);
          throw error;
        });
        if (flags.json) io.err(JSON.stringify({ gatehouse: "result", run: result.runId, command, ...result }));
        if (result.exitCode !== 0) throw new CliExit(result.exitCode);
      } finally {
        await drain();
        await closeApprovals();
        await log.close();
      }
    });
}

/** The approvals check over the local approvals store, for `--widen` (answers come from `gatehouse serve` / `gatehouse approvals`). */
async function openApprovals(file: string, log: DurableAuditLog, io: CliIO): Promise<{ approvals: NonNullable<SandboxDeps["approvals"]>; close: () => Promise<void> }> {
  const [{ createApprovals, createApproverDirectory }, { openSqliteApprovalStore, StoreError: StoreErr }] = await Promise.all([import("../approvals/index.js"), import("../store/index.js")]);
  try {
    const store = openSqliteApprovalStore(file);
    // The run only asks (the check); approvers answer through `gatehouse serve`, which knows them.
    const approvals = createApprovals({ store, audit: log, approvers: createApproverDirectory({}) });
    return { approvals, close: () => store.close() };
  } catch (error) {
    if (error instanceof StoreErr) {
      io.err(`gatehouse run: the approvals store \`${file}\` cannot be opened: ${error.message}\n  help: a widening needs the approvals store of \`gatehouse serve\`; nothing ran`);
      io.err(JSON.stringify({ gatehouse: "refused", code: "widening-unapproved", message: error.message }));
      throw new CliExit(1);
    }
    throw error;
  }
}

async function openLog(dataDir: string, io: CliIO): Promise<DurableAuditLog> {
  try {
    const signingKey = readSigningKeyFile(join(dataDir, AUDIT_FILES.signingKey));
    return await openAuditLog({ path: join(dataDir, AUDIT_FILES.database), signingKey });
  } catch (error) {
    if (error instanceof AuditError || error instanceof StoreError) {
      io.err(`gatehouse run: the audit log cannot be opened: ${error.message}\n  help: create it with \`gatehouse audit keygen\`; nothing runs unrecorded`);
      io.err(JSON.stringify({ gatehouse: "refused", code: "audit-unavailable", message: error.message }));
      throw new CliExit(1);
    }
    throw error;
  }
}

/** Token lifetime of a run's egress credentials: longer than any run should last. */
const EGRESS_TOKEN_TTL_MS = 12 * 3_600_000;

/**
 * With `GATEHOUSE_EGRESS_KEY` (the key `gatehouse egress` verifies run tokens with), each networked
 * run presents `AGENT:RUN_TOKEN` to the proxy, minted for that run; without it the proxy answers
 * 407. The token names the agent and the run, never an upstream secret.
 */
async function egressCredentialsFromEnv(agent: string, io: CliIO): Promise<((runId: string) => { agent: string; token: string }) | undefined> {
  const text = process.env.GATEHOUSE_EGRESS_KEY;
  if (!text) return undefined;
  const { mintRunToken, parseTokenKey } = await import("../egress/index.js");
  let key: Uint8Array;
  try {
    key = parseTokenKey(text);
  } catch (error) {
    io.err(`gatehouse run: GATEHOUSE_EGRESS_KEY: ${error instanceof Error ? error.message : String(error)}`);
    throw new CliExit(2);
  }
  return (runId) => ({ agent, token: mintRunToken(key, { agent, run: runId, expiresAt: Date.now() + EGRESS_TOKEN_TTL_MS }) });
}

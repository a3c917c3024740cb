import { dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { AUDIT_FILES, AuditError, defaultDataDir, openAuditLog, readSigningKeyFile, type DurableAuditLog } from "../audit/index.js";
import { createSandbox, formatViolation, loadSandboxPolicy, probeHost, SandboxError, type SandboxPolicy } from "../sandbox/index.js";
import { StoreError } from "../store/index.js";
import { CliExit, type CliIO } from "./io.js";

interface RunFlags {
  profile?: string;
  policy?: string;
  proxy?: string;
  json?: boolean;
}

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
      try {
        const sandbox = createSandbox({ auditSink: log, dataDir, host: probeHost({ spawnChecks: false }), ...(policy ? { policy } : {}), ...(flags.proxy ? { proxy: flags.proxy.startsWith("/") ? { socket: flags.proxy } : { address: flags.proxy } } : {}) });
        drain = () => sandbox.drain();
        const result = await sandbox.run(command, {
          ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
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
        await log.close();
      }
    });
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

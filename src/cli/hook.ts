import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { CliExit, type CliIO } from "./io.js";

interface HookFlags {
  policy?: string;
  socket?: string;
  serve?: boolean;
  dataDir?: string;
  deadline: number;
}

/**
 * How long a direct-mode hook may take before it denies on its own. Claude Code lets a hook that
 * times out through (a non-blocking error), so the hook must answer first: the installed
 * entries give Claude Code 60 s, and 50 s leaves room for a slow start.
 */
const DEFAULT_DEADLINE_SECONDS = 50;

function deadlineSeconds(value: string): number {
  const n = Number(value);
  if (!/^[0-9]+(\.[0-9]+)?$/.test(value) || !(n > 0) || n > 3600) {
    throw new InvalidArgumentError("give seconds between 0 and 3600, below the hook's timeout in Claude Code's settings");
  }
  return n;
}

/** The policy the hook uses when `--policy` is not given: outside every project, so the agent cannot edit it. */
export function defaultHookPolicy(env: NodeJS.ProcessEnv = process.env): string {
  if (env.GATEHOUSE_POLICY) return resolve(env.GATEHOUSE_POLICY);
  const config = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith("/") ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(config, "gatehouse", "policy.yaml");
}

/** How a rewritten Bash command calls `gatehouse run`: this very CLI, by absolute path. */
function selfCommand(): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `${quote(process.execPath)} ${quote(resolve(process.argv[1] ?? "gatehouse"))}`;
}

/**
 * `gatehouse hook claude-code [--policy FILE] [--socket PATH | --serve]`: answers one Claude Code
 * hook event (JSON on stdin) in Claude Code's output format; exit 2 with the reason on stderr for
 * anything it cannot judge (a blocking error in Claude Code: the tool does not run).
 */
export function registerHookCommand(program: Command, io: CliIO, exit: (code: number) => void = (code) => process.exit(code)): void {
  const hook = program.command("hook").description("answer agent hooks (Claude Code) from the policy");
  hook
    .command("claude-code")
    .description("answer one Claude Code hook event read from stdin (PreToolUse, PostToolUse, UserPromptSubmit)")
    .option("--policy <file>", "policy file with a `claude-code:` section (default $GATEHOUSE_POLICY or ~/.config/gatehouse/policy.yaml)")
    .option("--socket <path>", "forward the event to a running hook server instead of loading the policy")
    .option("--serve", "run the long-lived hook server on --socket (default <data dir>/claude-code/hook.sock)")
    .option("--data-dir <dir>", "Gatehouse's data directory (audit log, session state)")
    .option("--deadline <seconds>", "deny (exit 2) when no answer is ready in this many seconds; keep it below the hook's timeout", deadlineSeconds, DEFAULT_DEADLINE_SECONDS)
    .action(async (flags: HookFlags) => {
      // A hook Claude Code times out counts as a non-blocking error and the tool runs: deny first.
      const deadline = flags.serve
        ? undefined
        : setTimeout(() => {
            io.err(`gatehouse: denied (hook-timed-out): no answer within ${flags.deadline}s\n  help: find what judging waits on (a locked audit database, an approvals store that does not answer)`);
            exit(2);
          }, flags.deadline * 1000);
      try {
        await answerHook(flags, io);
      } catch (error) {
        if (error instanceof CliExit) throw error;
        // Exit 1 would be a non-blocking error to Claude Code (the tool runs): every failure is 2.
        io.err(`gatehouse: denied (hook-internal-error): ${error instanceof Error ? error.message : String(error)}`);
        throw new CliExit(2);
      } finally {
        clearTimeout(deadline);
      }
    });
}

async function answerHook(flags: HookFlags, io: CliIO): Promise<void> {
  if (flags.socket && !flags.serve) {
    // Forwarding only: the light client face, not the policy, schemas and judges.
    const client = await import("../integrations/claude-code/client.js");
    const forwarded = await client.askHookServer(resolve(flags.socket), await readStdin(client.MAX_EVENT_BYTES + 1));
    printAnswer(forwarded, io);
    return;
  }
  const cc = await import("../integrations/claude-code/index.js");
  const { defaultDataDir } = await import("../audit/writer.js");
  const dataDir = resolve(flags.dataDir ?? defaultDataDir());
  const policyPath = resolve(flags.policy ?? defaultHookPolicy());
  if (flags.serve) {
    const socketPath = resolve(flags.socket ?? join(dataDir, "claude-code", "hook.sock"));
    const runtime = await cc.createHookRuntime({ policyPath, dataDir, gatehouseCommand: selfCommand() }).catch((error: unknown) => {
      io.err(cc.failClosed(error).stderr);
      throw new CliExit(1);
    });
    const server = await cc.startHookServer({ socketPath, deps: runtime.deps });
    io.err(`gatehouse: hook server listening on ${socketPath}\n  hook command: ${cc.curlHookCommand(socketPath)}`);
    await new Promise<void>((done) => {
      const stop = () => server.close(() => done());
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
    await runtime.close();
    return;
  }
  const text = await readStdin(cc.MAX_EVENT_BYTES + 1);
  let answer;
  try {
    const runtime = await cc.createHookRuntime({ policyPath, dataDir, gatehouseCommand: selfCommand() });
    try {
      answer = await cc.handleHookEvent(text, runtime.deps, process.env.CLAUDE_PROJECT_DIR ? { projectDir: process.env.CLAUDE_PROJECT_DIR } : {});
    } finally {
      await runtime.close();
    }
  } catch (error) {
    answer = cc.failClosed(error);
  }
  printAnswer(answer, io);
}

/** Prints a hook answer as Claude Code reads it: stdout, stderr, and exit 2 for a deny. */
function printAnswer(answer: { readonly exitCode: number; readonly stdout: string; readonly stderr: string }, io: CliIO): void {
  if (answer.stdout) io.out(answer.stdout);
  if (answer.stderr) io.err(answer.stderr);
  if (answer.exitCode !== 0) throw new CliExit(answer.exitCode);
}

async function readStdin(limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) break; // parseHookEvent refuses it as too large
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8") + (size > limit ? " ".repeat(limit) : "");
}

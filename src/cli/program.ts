import { Command, CommanderError } from "commander";
import { CliExit, type CliIO } from "./io.js";

/** The version printed by `gatehouse --version`. */
export const VERSION = "0.1.0";

type Register = (program: Command, io: CliIO) => void;

/**
 * Each top-level command and the module that registers it. Modules load only when their command
 * runs (or for the full `--help`): the Claude Code hook runs before every tool call, so
 * `gatehouse hook` must not pay for the egress proxy's X.509 stack or the MCP SDK.
 */
const COMMANDS: Readonly<Record<string, () => Promise<Register>>> = {
  policy: async () => (await import("./policy.js")).registerPolicyCommands,
  explain: async () => (await import("./explain.js")).registerExplainCommand,
  demo: async () => (await import("./demo.js")).registerDemoCommand,
  audit: async () => (await import("./audit.js")).registerAuditCommand,
  egress: async () => (await import("./egress.js")).registerEgressCommand,
  secrets: async () => (await import("./secrets.js")).registerSecretsCommand,
  run: async () => (await import("./run.js")).registerRunCommand,
  doctor: async () => (await import("./doctor.js")).registerDoctorCommand,
  mcp: async () => (await import("./mcp.js")).registerMcpCommand,
  hook: async () => (await import("./hook.js")).registerHookCommand,
  install: async () => (await import("./install.js")).registerInstallCommands,
  uninstall: async () => (await import("./install.js")).registerInstallCommands,
  approvals: async () => (await import("./approvals.js")).registerApprovalsCommand,
  serve: async () => (await import("./serve.js")).registerServeCommand,
};

/**
 * Builds the `gatehouse` command tree. Each subcommand lives in its own file under `src/cli/` and
 * registers itself; it parses flags and calls modules, and holds no logic of its own. With `argv`,
 * only the command it names is loaded; without (or for an unknown command), all of them.
 */
export async function buildProgram(io: CliIO, argv?: readonly string[]): Promise<Command> {
  const program = new Command("gatehouse")
    .description("A security layer between AI agents and everything they can touch")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();
  const named = argv?.[0];
  const loaders =
    named === "--version" || named === "-V"
      ? []
      : named !== undefined && Object.hasOwn(COMMANDS, named)
        ? [COMMANDS[named]!]
        : [...new Set(Object.values(COMMANDS))];
  const registered = new Set<Register>();
  for (const register of await Promise.all(loaders.map((load) => load()))) {
    if (registered.has(register)) continue; // install and uninstall share one module
    registered.add(register);
    register(program, io);
  }
  return program;
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code: 0 for success,
 * 1 for a failed check or a refused action, 2 for a usage error.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  try {
    const program = await buildProgram(io, argv);
    await program.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CliExit) return error.exitCode;
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version") return 0;
      if (error.code === "commander.help") return 0;
      return 2;
    }
    io.err(`gatehouse: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

import { Command, CommanderError } from "commander";
import { CliExit, type CliIO } from "./io.js";
import { registerPolicyCommands } from "./policy.js";
import { registerExplainCommand } from "./explain.js";
import { registerDemoCommand } from "./demo.js";
import { registerEgressCommand } from "./egress.js";
import { registerSecretsCommand } from "./secrets.js";

/** The version printed by `gatehouse --version`. */
export const VERSION = "0.1.0";

/**
 * Builds the `gatehouse` command tree. Each subcommand lives in its own file under `src/cli/` and
 * registers itself here; it parses flags and calls modules, and holds no logic of its own.
 */
export function buildProgram(io: CliIO): Command {
  const program = new Command("gatehouse")
    .description("A security layer between AI agents and everything they can touch")
    .version(VERSION)
    .showHelpAfterError("(run with --help for usage)")
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })
    .exitOverride();
  registerPolicyCommands(program, io);
  registerExplainCommand(program, io);
  registerDemoCommand(program, io);
  registerEgressCommand(program, io);
  registerSecretsCommand(program, io);
  return program;
}

/**
 * Runs the CLI with `argv` (without node and script) and returns the exit code: 0 for success,
 * 1 for a failed check or a refused action, 2 for a usage error.
 */
export async function runCli(argv: readonly string[], io: CliIO): Promise<number> {
  const program = buildProgram(io);
  try {
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

import type { Command } from "commander";
import { formatProblem, loadPolicyFile, PolicyError, policyJsonSchema } from "../policy/index.js";
import { CliExit, type CliIO } from "./io.js";

/** `gatehouse policy check FILE` and `gatehouse policy schema`. */
export function registerPolicyCommands(program: Command, io: CliIO): void {
  const policy = program.command("policy").description("check a policy file or print its JSON Schema");

  policy
    .command("check")
    .description("validate a policy file; exit 0 when it loads, 1 with file:line:col problems when not")
    .argument("<file>", "the policy file (gatehouse.yaml)")
    .action(async (file: string) => {
      const compiled = await loadOrExit(file, io);
      for (const warning of compiled.warnings) io.err(formatProblem(warning).replace(/: /, ": warning: "));
      io.out(
        `${file}: ok (${compiled.agents.size} agent(s), ${compiled.tools.size} tool(s), ${compiled.rules.length} rule(s); digest ${compiled.digest.slice(0, 12)})`,
      );
    });

  policy
    .command("schema")
    .description("print the JSON Schema of the policy file, for editors")
    .action(() => {
      io.out(JSON.stringify(policyJsonSchema(), null, 2));
    });
}

/** Loads a policy for a command, or prints every problem and exits 1. */
export async function loadOrExit(file: string, io: CliIO) {
  try {
    return await loadPolicyFile(file);
  } catch (error) {
    if (error instanceof PolicyError) {
      for (const problem of error.problems) io.err(formatProblem(problem));
      throw new CliExit(1);
    }
    throw error;
  }
}

import type { Command } from "commander";
import { runDemo } from "../demo/index.js";
import type { CliIO } from "./io.js";

/** `gatehouse demo`: the scripted, model-free scenario that shows what Gatehouse is for. */
export function registerDemoCommand(program: Command, io: CliIO): void {
  program
    .command("demo")
    .description("run a scripted, model-free scenario: a hijacked support agent meets the gate")
    .option("--policy <file>", "run the scenario under another policy")
    .option("--no-color", "plain output")
    .action(async (flags: { policy?: string; color: boolean }) => {
      await runDemo({
        write: (line) => io.out(line),
        color: flags.color && process.stdout.isTTY === true && !process.env.NO_COLOR,
        ...(flags.policy ? { policyPath: flags.policy } : {}),
      });
    });
}

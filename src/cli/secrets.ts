import type { Command } from "commander";
import { createSecretBroker, formatConfigProblem, loadSecretsConfigFile, SecretsConfigError } from "../secrets/index.js";
import { CliExit, type CliIO } from "./io.js";

/** `gatehouse secrets check FILE`: resolves every declared secret and says which are missing, never printing a value. */
export function registerSecretsCommand(program: Command, io: CliIO): void {
  const secrets = program.command("secrets").description("check the secrets a policy declares");

  secrets
    .command("check")
    .description(
      "resolve every secret of the policy's `secrets:` section from its provider (environment, file, Vault); exit 0 when all resolve, 1 when any does not. Values are never printed.",
    )
    .argument("<file>", "the policy file (gatehouse.yaml)")
    .option("--json", "print one JSON object instead of lines")
    .action(async (file: string, options: { json?: boolean }) => {
      let config;
      try {
        config = await loadSecretsConfigFile(file);
      } catch (error) {
        if (error instanceof SecretsConfigError) {
          for (const problem of error.problems) io.err(formatConfigProblem(problem));
          throw new CliExit(1);
        }
        throw error;
      }
      const statuses = await createSecretBroker({ config, env: process.env }).check();
      const failed = statuses.filter((s) => !s.ok);
      if (options.json) {
        io.out(JSON.stringify({ file, ok: failed.length === 0, secrets: statuses }));
      } else {
        if (statuses.length === 0) io.out(`${file}: no secrets declared`);
        for (const s of statuses) {
          if (s.ok) io.out(`ok      ${s.handle} (${s.kind}, ${s.source})`);
          else io.out(`FAILED  ${s.handle} (${s.kind}) ${s.code}: ${s.message}${s.help ? `\n        help: ${s.help}` : ""}`);
        }
        if (statuses.length > 0) io.out(`${statuses.length - failed.length} of ${statuses.length} resolve`);
      }
      if (failed.length > 0) throw new CliExit(1);
    });
}

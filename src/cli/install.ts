import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { defaultHookPolicy } from "./hook.js";
import { CliExit, type CliIO } from "./io.js";

interface InstallFlags {
  project?: boolean;
  user?: boolean;
  policy?: string;
  socket?: string;
  dataDir?: string;
}

/**
 * `gatehouse install claude-code [--project|--user]` and `gatehouse uninstall claude-code`: add
 * or remove Gatehouse's hooks in Claude Code's settings, printing the diff and the backup.
 */
export function registerInstallCommands(program: Command, io: CliIO): void {
  const scopeOf = (flags: InstallFlags): "project" | "user" => {
    if (flags.project && flags.user) {
      io.err("gatehouse: give --project or --user, not both");
      throw new CliExit(2);
    }
    return flags.user ? "user" : "project";
  };
  const common = (command: Command) =>
    command
      .option("--project", "the project's .claude/settings.json (default)")
      .option("--user", "~/.claude/settings.json, for every project")
      .option("--data-dir <dir>", "Gatehouse's data directory (where the install is remembered)");

  common(
    program
      .command("install")
      .description("add Gatehouse's hooks to an agent's settings")
      .argument("<agent>", "the agent to guard: claude-code")
      .option("--policy <file>", "the policy the hook uses (default $GATEHOUSE_POLICY or ~/.config/gatehouse/policy.yaml)")
      .option("--socket <path>", "use the long-lived hook server on this socket (a curl client: fast start)"),
  ).action(async (agent: string, flags: InstallFlags) => {
    const cc = await load(agent, io);
    const { defaultDataDir } = await import("../audit/index.js");
    const dataDir = resolve(flags.dataDir ?? defaultDataDir());
    const command = flags.socket
      ? cc.curlHookCommand(resolve(flags.socket))
      : cc.guardedHookCommand([process.execPath, resolve(process.argv[1] ?? "gatehouse"), "hook", "claude-code", "--policy", resolve(flags.policy ?? defaultHookPolicy())]);
    const result = await run(io, () =>
      cc.installClaudeCode({ scope: scopeOf(flags), project: process.cwd(), home: homedir(), command, manifest: join(dataDir, "claude-code", "installed.json") }),
    );
    report(io, result, "installed");
  });

  common(
    program.command("uninstall").description("remove exactly the hooks `gatehouse install` added").argument("<agent>", "the agent: claude-code"),
  ).action(async (agent: string, flags: InstallFlags) => {
    const cc = await load(agent, io);
    const { defaultDataDir } = await import("../audit/index.js");
    const dataDir = resolve(flags.dataDir ?? defaultDataDir());
    const manifest = join(dataDir, "claude-code", "installed.json");
    const scope = scopeOf(flags);
    const file = cc.settingsPath({ scope, project: process.cwd(), home: homedir() });
    const command = await cc.installedCommand(manifest, file);
    if (command === undefined) {
      io.out(`gatehouse: nothing to remove: no install into ${file} is recorded in ${manifest}`);
      return;
    }
    const result = await run(io, () => cc.uninstallClaudeCode({ scope, project: process.cwd(), home: homedir(), command, manifest }));
    report(io, result, "removed");
  });
}

async function load(agent: string, io: CliIO) {
  if (agent !== "claude-code") {
    io.err(`gatehouse: unknown agent \`${agent}\`\n  help: the agents Gatehouse installs into: claude-code`);
    throw new CliExit(2);
  }
  return import("../integrations/claude-code/index.js");
}

async function run<T>(io: CliIO, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const help = (error as { help?: string }).help;
    io.err(`gatehouse: ${error instanceof Error ? error.message : String(error)}${help ? `\n  help: ${help}` : ""}`);
    throw new CliExit(1);
  }
}

function report(io: CliIO, result: { file: string; changed: boolean; diff: string; backup?: string }, verb: string): void {
  if (!result.changed) {
    io.out(`gatehouse: ${result.file} already up to date; nothing changed`);
    return;
  }
  io.out(`--- ${result.file}\n${result.diff}`);
  io.out(`gatehouse: ${verb} Claude Code hooks in ${result.file}${result.backup ? ` (previous file kept as ${result.backup})` : ""}`);
}

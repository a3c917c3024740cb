import type { Command } from "commander";
import { formatDoctorReport, probeHost } from "../sandbox/index.js";
import { CliExit, type CliIO } from "./io.js";

/** `gatehouse doctor`: what isolation this host gives `gatehouse run`, and what is missing. */
export function registerDoctorCommand(program: Command, io: CliIO): void {
  program
    .command("doctor")
    .description("report what sandbox isolation this host can give (bwrap, user namespaces, seccomp, cgroups)")
    .option("--json", "print one JSON object instead of text")
    .action((flags: { json?: boolean }) => {
      const host = probeHost();
      if (flags.json) io.out(JSON.stringify(host));
      else for (const line of formatDoctorReport(host)) io.out(line);
      if (host.problems.length > 0) throw new CliExit(1);
    });
}

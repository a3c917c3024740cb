#!/usr/bin/env node
import { processIO } from "./io.js";
import { runCli } from "./program.js";

// A reader that goes away (`gatehouse doctor | head -3`) ends the command as SIGPIPE would
// (exit 128 + 13), not with an unhandled EPIPE stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(141);
    throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2), processIO);

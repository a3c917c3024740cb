/** Where a command writes, so tests can run commands in-process and read what they printed. */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

/** Writes to the process's own stdout and stderr. */
export const processIO: CliIO = {
  out: (text) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith("\n") ? text : `${text}\n`),
};

/**
 * A failure the command already explained to the person; `main` exits with `exitCode` and
 * prints nothing more.
 */
export class CliExit extends Error {
  constructor(readonly exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = "CliExit";
  }
}

import { ClaudeCodeError } from "./errors.js";

/**
 * What `gatehouse hook claude-code --socket` needs to forward an event to a running hook server,
 * and nothing else: this module loads no policy, schema or judge, so the forwarding process starts
 * in the time Node itself takes (the full hook module graph took most of a second to load here).
 * A narrow face of the folder: index.ts re-exports every name.
 */

/** Hook events larger than this are refused before parsing (a Write of a huge file still fits). */
export const MAX_EVENT_BYTES = 8 * 1024 * 1024;

/** What the hook process prints and how it exits (Claude Code reads all three). */
export interface HookAnswer {
  /** 0: Claude Code reads the JSON on stdout. 2: a blocking error; stderr goes to Claude. */
  readonly exitCode: 0 | 2;
  readonly stdout: string;
  readonly stderr: string;
}

/** The answer for an error: exit 2 (blocking), a one-line reason on stderr. */
export function failClosed(error: unknown): HookAnswer {
  const known = error instanceof ClaudeCodeError;
  const code = known ? error.code : "hook-internal-error";
  const message = error instanceof Error ? error.message : String(error);
  const help = known && error.help ? `\n  help: ${error.help}` : "";
  return {
    exitCode: 2,
    stdout: "",
    stderr: `gatehouse: denied (${code}): ${message}${help}\n`,
  };
}

/**
 * Sends one event to a running hook server from Node (what `gatehouse hook claude-code --socket`
 * does). Resolves to the answer; a server that cannot be reached yields a deny.
 */
export async function askHookServer(socketPath: string, event: string, timeoutMs = 55_000, projectDir = process.env.CLAUDE_PROJECT_DIR): Promise<HookAnswer> {
  const { request } = await import("node:http");
  const headers = { "content-type": "application/json", ...(projectDir ? { "x-claude-project-dir": projectDir } : {}) };
  return new Promise<HookAnswer>((resolveAnswer) => {
    const req = request({ socketPath, path: "/claude-code/hook", method: "POST", headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        resolveAnswer(res.statusCode === 200 ? { exitCode: 0, stdout: body, stderr: "" } : { exitCode: 2, stdout: "", stderr: body || "gatehouse: denied: the hook server refused the event\n" });
      });
    });
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error) =>
      resolveAnswer(failClosed(new ClaudeCodeError("hook-server-unavailable", `the hook server at \`${socketPath}\` did not answer: ${error.message}`, "start it with `gatehouse hook claude-code --serve`, or drop --socket"))),
    );
    req.end(event);
  });
}

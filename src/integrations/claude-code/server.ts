import { chmodSync, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { dirname } from "node:path";
import { failClosed, MAX_EVENT_BYTES, type HookAnswer } from "./client.js";
import { ClaudeCodeError } from "./errors.js";
import { handleHookEvent, type HookDependencies } from "./hook.js";

/**
 * The long-lived hook server: the policy is compiled and the audit log opened once, and each
 * hook invocation is one HTTP request over a Unix socket (`POST /claude-code/hook`, the event as
 * the body). A 200 answer's body is what the hook prints on stdout; any other status means
 * "deny", with the reason in the body. The socket file is mode 0600 in a 0700 directory: only
 * the developer's own processes can ask.
 *
 * Why HTTP: `curl --unix-socket` is a client that starts in milliseconds where Node takes
 * hundreds (bench/hook.ts), and it is on every developer machine.
 *
 * @example
 * const server = await startHookServer({ socketPath: "/run/user/1000/gatehouse/hook.sock", deps });
 */
export async function startHookServer(options: { socketPath: string; deps: HookDependencies }): Promise<Server> {
  mkdirSync(dirname(options.socketPath), { recursive: true, mode: 0o700 });
  const server = createServer((request, response) => {
    if (request.method !== "POST" || request.url !== "/claude-code/hook") {
      response.writeHead(404, { "content-type": "text/plain" }).end("gatehouse: denied: unknown hook endpoint\n");
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_EVENT_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    request.on("end", () => {
      const answer: Promise<HookAnswer> = tooLarge
        ? Promise.resolve(failClosed(new ClaudeCodeError("hook-input-too-large", `the hook event is larger than ${MAX_EVENT_BYTES} bytes`)))
        : handleHookEvent(Buffer.concat(chunks).toString("utf8"), options.deps, projectHeader(request.headers["x-claude-project-dir"]));
      void answer.then((a) => {
        if (a.exitCode === 0) response.writeHead(200, { "content-type": "application/json" }).end(a.stdout);
        else response.writeHead(403, { "content-type": "text/plain" }).end(a.stderr);
      });
    });
  });
  await new Promise<void>((resolveListen, reject) => {
    server.once("error", reject);
    server.listen(options.socketPath, () => resolveListen());
  });
  chmodSync(options.socketPath, 0o600);
  return server;
}

function projectHeader(value: string | string[] | undefined): { projectDir?: string } {
  return typeof value === "string" && value.startsWith("/") ? { projectDir: value } : {};
}

/**
 * The hook command for Claude Code's settings when a hook server runs: `curl` sends the event
 * and prints the answer; a server that is down, or any answer but 200, ends in exit 2 (a
 * blocking error: the tool does not run). Never exit 1, which Claude Code reads as "no objection".
 */
export function curlHookCommand(socketPath: string): string {
  const script =
    'out=$(curl -sS --max-time 55 --fail-with-body --unix-socket "$0" -H "content-type: application/json" -H "x-claude-project-dir: ${CLAUDE_PROJECT_DIR:-}" --data-binary @- http://gatehouse/claude-code/hook 2>&1); ' +
    'if [ $? -eq 0 ]; then printf "%s\\n" "$out"; else printf "gatehouse: denied: %s\\n" "${out:-the hook server did not answer}" >&2; exit 2; fi';
  return `sh -c '${script.replace(/'/g, `'\\''`)}' '${socketPath.replace(/'/g, `'\\''`)}'`;
}


/**
 * The hook command for Claude Code's settings that runs `argv` (the Gatehouse CLI) and turns
 * any failure into exit 2. Threat: a CLI that cannot even start (a broken install, a module that
 * fails to load, a signal) exits 1 or dies, which Claude Code reads as a non-blocking error and
 * runs the tool; wrapped, it blocks the call instead.
 *
 * @example
 * guardedHookCommand(["/usr/bin/node", "/opt/gatehouse/dist/cli/main.js", "hook", "claude-code"])
 * // sh -c '"$@" || exit 2' gatehouse-hook '/usr/bin/node' '/opt/…/main.js' 'hook' 'claude-code'
 */
export function guardedHookCommand(argv: readonly string[]): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `sh -c '"$@" || exit 2' gatehouse-hook ${argv.map(quote).join(" ")}`;
}

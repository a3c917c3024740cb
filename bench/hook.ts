/**
 * Wall time of one `gatehouse hook claude-code` invocation, process start to answer, as Claude
 * Code runs it before every tool call: p50 over 50 runs. Three ways: the full CLI in-process
 * (loads the policy and opens the audit log each time), the curl client against the long-lived
 * hook server on a Unix socket, and the Node CLI forwarding to that server.
 * Prints one JSON line. Run with `npm run bench:hook`; it compiles its own copy of the CLI into
 * dist-bench/hook (so a concurrent `npm run build` cannot change the code under measurement).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { AUDIT_FILES, generateSigningKey, writeKeyFiles } from "../src/audit/index.js";
import { curlHookCommand } from "../src/integrations/claude-code/index.js";

const root = join(import.meta.dirname, "..");
const outDir = join(root, "dist-bench", "hook");
const build = spawnSync(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.build.json"), "--outDir", outDir], { encoding: "utf8" });
const main = join(outDir, "cli", "main.js");
if (!existsSync(main)) throw new Error(`the CLI did not build: ${build.stdout}${build.stderr}`);
const policy = join(root, "test", "fixtures", "claude-code", "policy.yaml");
const temp = mkdtempSync(join(tmpdir(), "gh-bench-hook-"));
const home = join(temp, "home");
const project = join(home, "project");
const dataDir = join(temp, "data");
mkdirSync(project, { recursive: true });
mkdirSync(dataDir, { recursive: true });
writeKeyFiles(join(dataDir, AUDIT_FILES.signingKey), generateSigningKey("bench.gatehouse.local"));
const env = { ...process.env, HOME: home };
const event = JSON.stringify({
  session_id: "bench",
  transcript_path: join(home, "t.jsonl"),
  cwd: project,
  hook_event_name: "PreToolUse",
  tool_name: "Bash",
  tool_input: { command: "git status && cat src/index.ts | grep export", description: "look" },
  tool_use_id: "toolu_bench",
});

function time(command: string, args: string[], runs: number): { p50: number; p90: number; min: number } {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = spawnSync(command, args, { input: event, encoding: "utf8", env, timeout: 60_000 });
    samples.push(performance.now() - started);
    if (result.status !== 0 || !result.stdout.includes('"permissionDecision":"allow"')) {
      throw new Error(`unexpected answer (exit ${result.status}): ${result.stdout}${result.stderr}`);
    }
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => Math.round(samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]! * 10) / 10;
  return { p50: at(0.5), p90: at(0.9), min: at(0) };
}

function timeBare(runs: number) {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    spawnSync(process.execPath, ["-e", "0"]);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[Math.floor(runs / 2)]! * 10) / 10;
}

const nodeBareP50 = timeBare(20);
const inProcess = time(process.execPath, [main, "hook", "claude-code", "--policy", policy, "--data-dir", dataDir], 50);

const socket = join(dataDir, "claude-code", "hook.sock");
const server = spawn(process.execPath, [main, "hook", "claude-code", "--serve", "--policy", policy, "--data-dir", dataDir, "--socket", socket], { env, stdio: ["ignore", "ignore", "pipe"] });
await new Promise<void>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("hook server did not start")), 30_000);
  server.stderr.on("data", (chunk: Buffer) => {
    if (chunk.toString().includes("listening")) {
      clearTimeout(timer);
      resolve();
    }
  });
});
let viaCurl;
let viaNodeClient;
try {
  viaCurl = time("sh", ["-c", curlHookCommand(socket)], 50);
  viaNodeClient = time(process.execPath, [main, "hook", "claude-code", "--socket", socket], 20);
} finally {
  server.kill("SIGTERM");
}

console.log(
  JSON.stringify({
    bench: "hook",
    event: "PreToolUse Bash (a chain of 3 commands)",
    runs: { inProcess: 50, curlServer: 50, nodeClientServer: 20 },
    targetMs: 150,
    nodeBareStartP50Ms: nodeBareP50,
    inProcessMs: inProcess,
    curlClientToServerMs: viaCurl,
    nodeClientToServerMs: viaNodeClient,
    meetsTarget: { inProcess: inProcess.p50 <= 150, curlClientToServer: viaCurl.p50 <= 150 },
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    node: process.version,
    platform: process.platform,
  }),
);

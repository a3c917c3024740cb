/**
 * Sandbox start-up cost: the median wall time of running `true` bare, under plain
 * `bwrap --ro-bind / / --unshare-net -- true`, through the library (`createSandbox().run`) and
 * through the CLI (`node dist/cli/main.js run -- true`), all in the same process and run.
 * Prints one JSON line at the end. Targets: library <= bare + 10 ms, CLI <= bare + 60 ms.
 *
 * Run: npx tsx bench/sandbox.ts (builds dist/ with tsc first if dist/cli/run.js is missing).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { join } from "node:path";
import { generateSigningKey, writeKeyFiles } from "../src/audit/index.js";
import { createSandbox } from "../src/sandbox/index.js";

const ROUNDS = Number(process.env.ROUNDS ?? 40);
const root = new URL("..", import.meta.url).pathname;
const main = join(root, "dist", "cli", "main.js");
if (!existsSync(join(root, "dist", "cli", "run.js"))) {
  try {
    execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { cwd: root, stdio: "ignore" });
  } catch {
    // tsc exits non-zero on type errors elsewhere but still emits; checked below
  }
  if (!existsSync(join(root, "dist", "cli", "run.js"))) throw new Error("dist/cli/run.js missing after build");
}

const dir = mkdtempSync(join(tmpdir(), "gh-bench-sbx-"));
const work = join(dir, "work");
mkdirSync(work);
writeFileSync(join(work, "package.json"), "{}\n");
execFileSync("git", ["init", "-q"], { cwd: work });
const xdg = join(dir, "xdg");
writeKeyFiles(join(xdg, "gatehouse", "audit.key"), generateSigningKey("bench/gatehouse/audit/sandbox"));
const env = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: join(dir, "home"), XDG_DATA_HOME: xdg, LANG: "C.UTF-8" };
mkdirSync(env.HOME);

function timeSpawn(file: string, args: readonly string[], cwd = work): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(file, args, { cwd, env, stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve(performance.now() - t0) : reject(new Error(`${file} exited ${String(code)}`))));
  });
}

const sandbox = createSandbox({ auditSink: { append: () => Promise.resolve() }, hostEnv: env, dataDir: join(xdg, "gatehouse") });
async function timeLibrary(): Promise<number> {
  const t0 = performance.now();
  const result = await sandbox.run(["true"], { cwd: work });
  if (result.exitCode !== 0) throw new Error(`library run exited ${result.exitCode}`);
  return performance.now() - t0;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(((s[Math.floor((s.length - 1) / 2)]! + s[Math.ceil((s.length - 1) / 2)]!) / 2).toFixed(2));
};

const samples = { bare: [] as number[], bwrap: [] as number[], library: [] as number[], cli: [] as number[] };
const bwrap = sandbox.host.bwrap?.path ?? "/usr/bin/bwrap";
// Warm-up, then interleave so every variant sees the same machine state.
await timeSpawn("/bin/true", []);
await timeLibrary();
await timeSpawn(process.execPath, [main, "run", "--", "true"]);
for (let i = 0; i < ROUNDS; i++) {
  samples.bare.push(await timeSpawn("/bin/true", []));
  samples.bwrap.push(await timeSpawn(bwrap, ["--ro-bind", "/", "/", "--unshare-net", "--", "true"]));
  samples.library.push(await timeLibrary());
  if (i % 2 === 0) samples.cli.push(await timeSpawn(process.execPath, [main, "run", "--", "true"]));
}
rmSync(dir, { recursive: true, force: true });

const bare = median(samples.bare);
const library = median(samples.library);
const cli = median(samples.cli);
console.log(
  JSON.stringify({
    bench: "sandbox",
    rounds: ROUNDS,
    cliRounds: samples.cli.length,
    medianMs: { bare, bwrap: median(samples.bwrap), library, cli },
    overheadMs: { library: Number((library - bare).toFixed(2)), cli: Number((cli - bare).toFixed(2)) },
    targetsMet: { library: library - bare <= 10, cli: cli - bare <= 60 },
    cgroups: Object.keys(sandbox.host.cgroups.writable),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, kernel: release() },
  }),
);

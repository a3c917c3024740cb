import { execFileSync } from "node:child_process";
import { linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditEvent } from "../src/core/index.js";
import { createSandbox, type EgressTarget, type RunOptions, type RunResult, type Sandbox, type SandboxDeps, type SandboxPolicy } from "../src/sandbox/index.js";

/** A fake host: a home with secrets, a data directory with an audit database, a git workspace. */
export interface Fixture {
  readonly root: string;
  readonly home: string;
  readonly work: string;
  readonly dataDir: string;
  readonly events: AuditEvent[];
  readonly hostEnv: Record<string, string>;
  sandbox(policy?: SandboxPolicy, extra?: { proxy?: EgressTarget; egressCredentials?: SandboxDeps["egressCredentials"] }): Sandbox;
  /** Waits for every sandbox's background cleanup, then deletes the fixture. */
  cleanup(): Promise<void>;
}

export const SSH_SECRET = "SSH-PRIVATE-KEY-SENTINEL-7f3a";
export const AWS_SECRET = "AWS-ENV-SECRET-SENTINEL-91bc";
export const AUDIT_SECRET = "AUDIT-DB-SENTINEL-55d2";
export const DOTENV_SECRET = "DOTENV-SENTINEL-c0ff";

export function makeFixture(): Fixture {
  const root = mkdtempSync(join(tmpdir(), "gh-sbx-"));
  const home = join(root, "home");
  const work = join(root, "work");
  const dataDir = join(home, ".local", "share", "gatehouse");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  writeFileSync(join(home, ".ssh", "id_ed25519"), `${SSH_SECRET}\n`, { mode: 0o600 });
  mkdirSync(join(home, ".aws"));
  writeFileSync(join(home, ".aws", "credentials"), `[default]\naws_secret_access_key=${AWS_SECRET}\n`);
  writeFileSync(join(home, ".bashrc"), "# rc\n");
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(join(dataDir, "audit.db"), `${AUDIT_SECRET}\n`);
  mkdirSync(work);
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "fixture", version: "1.0.0", private: true, scripts: { test: "node -e \"console.log('npm-test-ok')\"" } }));
  writeFileSync(join(work, "hello.c"), '#include <stdio.h>\nint main(void) { printf("hello from cc\\n"); return 0; }\n');
  writeFileSync(join(work, ".env"), `TOKEN=${DOTENV_SECRET}\n`);
  const git = (...args: string[]): void => {
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "init.defaultBranch=main", ...args], { cwd: work, stdio: "ignore" });
  };
  git("init", "-q");
  git("add", "package.json", "hello.c");
  git("commit", "-q", "-m", "fixture");
  // Planted by someone outside: a symlink and a hard link to the SSH key.
  symlinkSync(join(home, ".ssh", "id_ed25519"), join(work, "key-link"));
  linkSync(join(home, ".ssh", "id_ed25519"), join(work, "innocent.txt"));
  const events: AuditEvent[] = [];
  const made: Sandbox[] = [];
  const hostEnv = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: home, LANG: "C.UTF-8", AWS_SECRET_ACCESS_KEY: AWS_SECRET, GITHUB_TOKEN: AWS_SECRET };
  return {
    root,
    home,
    work,
    dataDir,
    events,
    hostEnv,
    sandbox: (policy, extra) => {
      const sb = createSandbox({
        auditSink: { append: (e) => Promise.resolve(void events.push(e)) },
        hostEnv,
        dataDir,
        ...(policy ? { policy } : {}),
        ...(extra?.proxy ? { proxy: extra.proxy } : {}),
        ...(extra?.egressCredentials ? { egressCredentials: extra.egressCredentials } : {}),
      });
      made.push(sb);
      return sb;
    },
    cleanup: async () => {
      await Promise.all(made.map((s) => s.drain()));
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** What a run printed, with its result. */
export interface Ran {
  readonly result: RunResult;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runIn(sandbox: Sandbox, command: string[], options: RunOptions = {}): Promise<Ran> {
  let stdout = "";
  let stderr = "";
  const result = await sandbox.run(command, {
    onStdout: (b) => {
      if (stdout.length < 1_000_000) stdout += b.toString();
    },
    onStderr: (b) => {
      if (stderr.length < 1_000_000) stderr += b.toString();
    },
    ...options,
  });
  return { result, stdout, stderr };
}

/** Processes on the host whose command line contains `marker`. */
export function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ").includes(marker)) found.push(Number(name));
    } catch {
      // gone
    }
  }
  return found;
}

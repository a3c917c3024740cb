import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMemoryAuditLog, type MemoryAuditLog } from "../src/audit/index.js";
import { createHookRuntime, handleHookEvent, type HookRuntime } from "../src/integrations/claude-code/index.js";

export const POLICY = join(import.meta.dirname, "fixtures", "claude-code", "policy.yaml");

/** A fake home and project on the real filesystem, with credential stores and symlinks into them. */
export interface World {
  readonly root: string;
  readonly home: string;
  readonly project: string;
  readonly dataDir: string;
  readonly audit: MemoryAuditLog;
  readonly runtime: HookRuntime;
}

export async function createWorld(): Promise<World> {
  const root = realpathSync(mkdtempSync(join(tmpdir(), "gh-cc-")));
  const home = join(root, "home", "dev");
  const project = join(home, "src", "app");
  const dataDir = join(root, "data");
  for (const dir of [join(home, ".ssh"), join(home, ".aws"), join(home, ".config", "gcloud"), join(home, ".kube"), join(home, ".docker"), project, join(project, "src"), dataDir]) {
    mkdirSync(dir, { recursive: true });
  }
  writeFileSync(join(home, ".ssh", "id_rsa"), "-----BEGIN OPENSSH PRIVATE KEY-----\n");
  writeFileSync(join(home, ".aws", "credentials"), "[default]\n");
  writeFileSync(join(home, ".docker", "config.json"), "{}");
  writeFileSync(join(home, ".npmrc"), "//registry.npmjs.org/:_authToken=x\n");
  writeFileSync(join(project, "src", "index.ts"), "export {};\n");
  writeFileSync(join(project, ".env"), "SECRET=1\n");
  writeFileSync(join(project, ".env.example"), "SECRET=\n");
  symlinkSync(join(home, ".ssh"), join(project, "keys"));
  symlinkSync(join(home, ".aws", "credentials"), join(project, "creds.txt"));
  symlinkSync("/etc", join(project, "etc-link"));
  const audit = createMemoryAuditLog();
  const runtime = await createHookRuntime({ policyPath: POLICY, dataDir, home, audit, gatehouseCommand: "gatehouse" });
  return { root, home, project, dataDir, audit, runtime };
}

export function preToolUse(world: World, tool: string, input: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return JSON.stringify({
    session_id: "sess-1",
    transcript_path: join(world.home, ".claude", "projects", "t.jsonl"),
    cwd: world.project,
    permission_mode: "default",
    hook_event_name: "PreToolUse",
    tool_name: tool,
    tool_input: input,
    tool_use_id: `toolu_${Math.random().toString(36).slice(2)}`,
    ...extra,
  });
}

export interface Verdict {
  verdict: "allow" | "ask" | "deny";
  reason: string;
  updatedInput?: Record<string, unknown>;
}

/** Runs one event and reads the answer the way Claude Code does: exit 2 blocks; otherwise the JSON decides. */
export async function answer(world: World, event: string): Promise<Verdict> {
  const result = await handleHookEvent(event, world.runtime.deps);
  if (result.exitCode === 2) return { verdict: "deny", reason: result.stderr };
  const out = JSON.parse(result.stdout) as { hookSpecificOutput: { permissionDecision: Verdict["verdict"]; permissionDecisionReason: string; updatedInput?: Record<string, unknown> } };
  return {
    verdict: out.hookSpecificOutput.permissionDecision,
    reason: out.hookSpecificOutput.permissionDecisionReason,
    ...(out.hookSpecificOutput.updatedInput ? { updatedInput: out.hookSpecificOutput.updatedInput } : {}),
  };
}

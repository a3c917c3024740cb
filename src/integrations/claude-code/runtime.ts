import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import type { AuditSink } from "../../core/index.js";
import type { Check } from "../../gate/index.js";
import { ClaudeCodeError } from "./errors.js";
import type { HookDependencies, OutputScrubber } from "./hook.js";
import { ClaudeCodeConfigSchema, type ClaudeCodeConfig } from "./schema.js";
import { fileIntentStore } from "./state.js";

/** What `gatehouse hook claude-code` needs to judge events. */
export interface HookRuntimeOptions {
  readonly policyPath: string;
  /** Gatehouse's data directory: the audit log, its key, the session state. */
  readonly dataDir: string;
  readonly home?: string;
  /** How a rewritten Bash command starts Gatehouse (`gatehouse run`), shell-quoted. */
  readonly gatehouseCommand?: string;
  /** An audit sink to use instead of the data directory's durable log (tests, embedding). */
  readonly audit?: AuditSink;
}

export interface HookRuntime {
  readonly deps: HookDependencies;
  close(): Promise<void>;
}

/**
 * Loads the policy (with its `claude-code:` section), opens the audit log of the data directory
 * and returns the hook's dependencies. Heavy modules (policy compiler, SQLite, scrubber) are
 * imported here, lazily, so a process that only forwards to the hook server never loads them.
 * Throws `ClaudeCodeError` when the policy or the audit log is unusable: the caller denies.
 */
export async function createHookRuntime(options: HookRuntimeOptions): Promise<HookRuntime> {
  const [{ createGate }, { policy, config }] = await Promise.all([import("../../gate/index.js"), loadHookPolicy(options.policyPath)]);
  const home = options.home ?? homedir();
  let audit: AuditSink;
  let close = async () => {};
  if (options.audit) audit = options.audit;
  else {
    const opened = await openDurableAudit(options.dataDir);
    audit = opened;
    close = () => opened.close();
  }
  // With an `approvers:` section, an `ask` becomes a durable request in the data directory's
  // approvals database (the one `gatehouse approvals` answers); the retry after approval runs.
  const checks: Check[] = [];
  if (policy.file.approvers) {
    const [{ approvalsFromConfig }, { openSqliteApprovalStore }] = await Promise.all([import("../../approvals/index.js"), import("../../store/index.js")]);
    try {
      const store = openSqliteApprovalStore(join(options.dataDir, "approvals.db"));
      const closeLog = close;
      close = async () => {
        await store.close();
        await closeLog();
      };
      checks.push(approvalsFromConfig({ approvers: policy.file.approvers, approvals: policy.file.approvals, store, audit }).approvals.check);
    } catch (error) {
      await close();
      throw new ClaudeCodeError("hook-config-invalid", `approvals cannot be set up: ${error instanceof Error ? error.message : String(error)}`, "check the policy's `approvers:` and `approvals:` sections");
    }
  }
  let scrubber: Promise<OutputScrubber> | undefined;
  const deps: HookDependencies = {
    makeGate: (newId) => createGate({ policy, audit, newId, checks }),
    audit,
    config,
    home,
    protect: {
      // The agent must not read the audit log's signing key nor rewrite the log or the policy.
      neverReadable: [resolve(options.dataDir)],
      neverWritable: [resolve(options.policyPath)],
    },
    intents: fileIntentStore(join(options.dataDir, "claude-code", "sessions")),
    scrubber: () => (scrubber ??= import("../../secrets/index.js").then(({ scrubberForSecrets }) => scrubberForSecrets(policy.file.secrets))),
    gatehouseCommand: options.gatehouseCommand ?? "gatehouse",
  };
  return { deps, close };
}

async function openDurableAudit(dataDir: string) {
  const { AUDIT_FILES, openAuditLog, readSigningKeyFile } = await import("../../audit/writer.js");
  try {
    const signingKey = readSigningKeyFile(join(dataDir, AUDIT_FILES.signingKey));
    return await openAuditLog({ path: join(dataDir, AUDIT_FILES.database), signingKey, synchronous: "normal" });
  } catch (error) {
    throw new ClaudeCodeError(
      "hook-audit-unavailable",
      `the audit log in \`${dataDir}\` cannot be opened: ${error instanceof Error ? error.message : String(error)}`,
      "create it with `gatehouse audit keygen`; nothing runs unrecorded",
    );
  }
}

/** Loads a policy file and its `claude-code:` section (absent: the section's defaults). */
export async function loadHookPolicy(path: string) {
  // The policy loader validates the `claude-code:` section with the rest, each problem at its place.
  const { parsePolicy, PolicyError, formatProblem } = await import("../../policy/index.js");
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new ClaudeCodeError("hook-policy-unavailable", `cannot read policy \`${path}\`: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, "pass the policy with --policy FILE");
  }
  let policy;
  try {
    policy = parsePolicy(text, path);
  } catch (error) {
    if (error instanceof PolicyError) {
      throw new ClaudeCodeError("hook-policy-unavailable", error.problems.map(formatProblem).join("\n"), "fix the policy; `gatehouse policy check FILE` lists every problem");
    }
    throw error;
  }
  const config: ClaudeCodeConfig = ClaudeCodeConfigSchema.parse(policy.file["claude-code"] ?? {});
  return { policy, config };
}

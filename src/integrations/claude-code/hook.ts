import type { Action, AuditSink, Decision } from "../../core/index.js";
import type { Gate } from "../../gate/index.js";
import { judgeBash } from "./bash.js";
import { failClosed, type HookAnswer } from "./client.js";
import { judgeHost, judgeUrl, normalizeDomainPattern } from "./domains.js";
import { ClaudeCodeError } from "./errors.js";
import { parseHookEvent, type PostToolUseEvent, type PreToolUseEvent, type UserPromptSubmitEvent } from "./events.js";
import { containsProtected, expandPath, globReachesProtected, judgePath, NEVER_READABLE_HOME, resolveReal, type PathRules } from "./paths.js";
import type { ClaudeCodeConfig } from "./schema.js";
import type { IntentStore } from "./state.js";
import { isJudgedTool, policyToolName, TOOL_INPUTS } from "./tools.js";



/** Scrubs secrets out of tool output (src/secrets' scrubber satisfies it). */
export interface OutputScrubber {
  scrubValue(value: unknown): unknown;
}

/** Everything one hook answer depends on; built once per process (or per server). */
export interface HookDependencies {
  /** Builds the gate for one call; `newId` gives the audit id that pairs a call's Pre and Post events. */
  readonly makeGate: (newId: () => string) => Gate;
  readonly audit: AuditSink;
  readonly config: ClaudeCodeConfig;
  readonly home: string;
  /** Files no tool may change besides the built-in ones (the policy file, the data directory). */
  readonly protect: { readonly neverReadable: readonly string[]; readonly neverWritable: readonly string[] };
  readonly intents: IntentStore;
  /** Loaded lazily: only PostToolUse needs it. */
  readonly scrubber: () => Promise<OutputScrubber>;
  /** The command that starts `gatehouse` (for `gatehouse run` rewrites), already shell-quoted. */
  readonly gatehouseCommand: string;
  readonly realpath?: (path: string) => string;
  readonly clock?: () => Date;
}

type Verdict = "allow" | "ask" | "deny";

interface LocalJudgement {
  verdict: Verdict;
  reasons: string[];
  /** Arguments as Gatehouse judged them (paths made absolute), for the gate and the audit log. */
  args: Record<string, unknown>;
  updatedInput?: Record<string, unknown>;
}

/**
 * Answers one Claude Code hook event (the bytes Claude Code wrote on stdin). Never throws: any
 * error becomes exit code 2 with the reason on stderr, which Claude Code treats as a blocking
 * error — the tool call does not run (exit 1 would be a non-blocking error and let it run).
 *
 * @example
 * const answer = await handleHookEvent(stdinText, deps);
 * process.stdout.write(answer.stdout); process.stderr.write(answer.stderr); process.exitCode = answer.exitCode;
 */
export async function handleHookEvent(text: string, deps: HookDependencies, context: HookContext = {}): Promise<HookAnswer> {
  try {
    const event = parseHookEvent(text);
    switch (event.hook_event_name) {
      case "PreToolUse":
        return await preToolUse(event, deps, context);
      case "PostToolUse":
        return await postToolUse(event, deps);
      case "UserPromptSubmit":
        return await userPromptSubmit(event, deps);
      default:
        return failClosed(new ClaudeCodeError("hook-event-unknown", "unknown hook event"));
    }
  } catch (error) {
    return failClosed(error);
  }
}

/** What the hook process knows besides the event. */
export interface HookContext {
  /** `$CLAUDE_PROJECT_DIR`, which Claude Code sets for hook commands. */
  readonly projectDir?: string;
}


/**
 * The session's project directory. Threat: `cwd` follows the Bash tool's `cd`, so an agent that
 * ran `cd ~` would otherwise make the whole home directory "the project". Claude Code's
 * `$CLAUDE_PROJECT_DIR` wins; without it, the first `cwd` seen for the session is pinned.
 */
async function projectDirectory(event: { session_id: string; cwd: string }, deps: HookDependencies, context: HookContext): Promise<string> {
  if (context.projectDir?.startsWith("/")) return context.projectDir;
  return deps.intents.pinProject(event.session_id, event.cwd);
}

function pathRules(event: { cwd: string }, project: string, deps: HookDependencies): PathRules {
  const { home } = deps;
  const where = { home, cwd: event.cwd };
  const place = (p: string) => expandPath(p === "$PROJECT" ? project : p.startsWith("$PROJECT/") ? `${project}/${p.slice(9)}` : p, where);
  const real = (p: string) => resolveReal(p, deps.realpath);
  const never = [
    ...NEVER_READABLE_HOME.map((p) => `${home}/${p}`),
    ...deps.config.directories.neverReadable.map(place),
    ...deps.protect.neverReadable,
  ];
  const neverWritable = [
    `${home}/.claude/settings.json`,
    `${home}/.claude/settings.local.json`,
    `${project}/.claude/settings.json`,
    `${project}/.claude/settings.local.json`,
    ...deps.protect.neverWritable,
  ];
  // Compare real paths with real paths: a store reached through a symlinked home still counts.
  const withReal = (list: string[]) => [...new Set(list.flatMap((p) => [p, real(p)]))];
  return {
    home,
    cwd: event.cwd,
    allow: withReal(deps.config.directories.allow.map(place)),
    never: withReal(never),
    neverWritable: withReal(neverWritable),
    ...(deps.realpath ? { realpath: deps.realpath } : {}),
  };
}

function judgeLocally(event: PreToolUseEvent, project: string, deps: HookDependencies): LocalJudgement {
  const input = event.tool_input;
  if (!isJudgedTool(event.tool_name)) return { verdict: "allow", reasons: [], args: input };
  const parsed = TOOL_INPUTS[event.tool_name].safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "(input)";
    return {
      verdict: "deny",
      reasons: [`${event.tool_name} input field \`${field}\`: ${issue.message}`],
      args: input,
    };
  }
  const rules = pathRules(event, expandPath(project, { home: deps.home, cwd: event.cwd }), deps);
  const data = parsed.data as Record<string, unknown>;
  switch (event.tool_name) {
    case "Bash": {
      const command = data.command as string;
      const judgement = judgeBash(command, { config: deps.config.bash, rules });
      const args = { ...data, commands: judgement.commands };
      if (judgement.sandbox) {
        const profile = deps.config.bash.sandboxProfile ? ` --profile ${deps.config.bash.sandboxProfile}` : "";
        const wrapped = `${deps.gatehouseCommand} run${profile} -- bash -c ${shellQuote(command)}`;
        const reasons = [...judgement.reasons, "the policy runs this command in the Gatehouse sandbox"];
        return { verdict: judgement.verdict, reasons, args, updatedInput: { ...data, command: wrapped } };
      }
      return { verdict: judgement.verdict, reasons: [...judgement.reasons], args };
    }
    case "Read":
    case "Write":
    case "Edit":
    case "MultiEdit":
    case "NotebookEdit": {
      const key = event.tool_name === "NotebookEdit" ? "notebook_path" : "file_path";
      const judgement = judgePath(data[key] as string, event.tool_name === "Read" ? "read" : "write", rules);
      return {
        verdict: judgement.verdict,
        reasons: judgement.verdict === "allow" ? [] : [judgement.reason],
        args: { ...data, [key]: judgement.path },
      };
    }
    case "Glob":
    case "Grep":
    case "LS": {
      const root = expandPath((data.path as string | undefined) ?? event.cwd, rules);
      const judgement = judgePath(root, "read", rules);
      const reasons = judgement.verdict === "allow" ? [] : [judgement.reason];
      let verdict: Verdict = judgement.verdict;
      if (event.tool_name !== "LS") {
        const store = containsProtected(root, rules);
        if (store) {
          verdict = "deny";
          reasons.push(`${event.tool_name} in \`${root}\` would search \`${store}\`, a credential store`);
        }
        const pattern = (event.tool_name === "Glob" ? data.pattern : data.glob) as string | undefined;
        if (pattern && verdict !== "deny") {
          const reach = globReachesProtected(expandPath(pattern, { home: rules.home, cwd: root }), rules);
          if (reach) {
            verdict = "deny";
            reasons.push(`the pattern \`${pattern}\` can name files in ${reach}`);
          }
        }
      }
      return { verdict, reasons, args: { ...data, path: root } };
    }
    case "WebFetch": {
      const judgement = judgeUrl(data.url as string, deps.config.domains);
      return {
        verdict: judgement.verdict,
        reasons: judgement.verdict === "allow" ? [] : [judgement.reason],
        args: { ...data, host: judgement.host },
      };
    }
    case "WebSearch": {
      const allow = deps.config.domains;
      if (allow.length === 0) return { verdict: "deny", reasons: ["no domains are allowed (`claude-code.domains` is empty)"], args: data };
      const requested = (data.allowed_domains as string[] | undefined) ?? [];
      for (const host of requested) {
        const judgement = judgeHost(host, allow);
        if (judgement.verdict === "deny") return { verdict: "deny", reasons: [judgement.reason], args: data };
      }
      if (requested.length > 0) return { verdict: "allow", reasons: [], args: data };
      // Limit the search to the allow-list instead of the whole web.
      const domains = [...new Set(allow.map((d) => normalizeDomainPattern(d).replace(/^\*\./, "")))];
      const updated = { ...data, allowed_domains: domains };
      return { verdict: "allow", reasons: ["the search is limited to the domain allow-list"], args: updated, updatedInput: updated };
    }
    default:
      return { verdict: "deny", reasons: [`no judge for ${String(event.tool_name)}`], args: input };
  }
}

function actionFor(event: { session_id: string; tool_name: string }, args: unknown, deps: HookDependencies, request: string | undefined): Action {
  return {
    ...(deps.config.agent ? { agent: deps.config.agent } : {}),
    tool: policyToolName(event.tool_name, deps.config.mcp),
    args,
    run: event.session_id,
    ...(request === undefined ? {} : { request }),
  };
}

function combine(local: LocalJudgement, decision: Decision): { verdict: Verdict; reasons: string[] } {
  const gateVerdict: Verdict = decision.verdict === "dry-run" ? "deny" : decision.verdict;
  const gateReasons = decision.verdict === "dry-run" ? [`the policy asks for a dry run, which Claude Code's tools cannot do (${decision.reasons.join("; ")})`] : [...decision.reasons];
  const order = { allow: 0, ask: 1, deny: 2 } as const;
  const verdict = order[gateVerdict] > order[local.verdict] ? gateVerdict : local.verdict;
  const reasons = [...(local.verdict === verdict ? local.reasons : []), ...(gateVerdict === verdict ? gateReasons : [])];
  return { verdict, reasons };
}

async function preToolUse(event: PreToolUseEvent, deps: HookDependencies, context: HookContext): Promise<HookAnswer> {
  const local = judgeLocally(event, await projectDirectory(event, deps, context), deps);
  const intent = await deps.intents.get(event.session_id);
  const action = actionFor(event, local.args, deps, intent);
  // The Pre and Post events of one call share the audit id, so a reader can pair them.
  const { decision } = await deps.makeGate(() => callId(event, deps)).decide(action);
  let { verdict, reasons } = combine(local, decision);
  if (verdict === "ask" && decision.verdict === "ask" && decision.approval) {
    // A Gatehouse approval request exists: a person answers it outside Claude Code, then the retry runs.
    verdict = "deny";
    reasons = [...reasons, `approval request ${decision.approval.id} is pending until ${decision.approval.expiresAt}; ask a person to run \`gatehouse approvals approve ${decision.approval.id}\`, then retry the identical call`];
  }
  const reason = `Gatehouse: ${reasons.length > 0 ? reasons.join("; ") : `allowed by ${decision.rules.length > 0 ? `rule ${decision.rules.join(", ")}` : decision.code}`}`;
  const output = {
    hookSpecificOutput: {
      hookEventName: "PreToolUse",
      permissionDecision: verdict,
      permissionDecisionReason: reason,
      // With `ask`, Claude Code shows the person the rewritten input, and runs that if approved.
      ...(verdict !== "deny" && local.updatedInput ? { updatedInput: local.updatedInput } : {}),
    },
  };
  return { exitCode: 0, stdout: `${JSON.stringify(output)}\n`, stderr: "" };
}

function callId(event: { session_id: string; tool_use_id?: string | undefined }, deps: HookDependencies): string {
  return event.tool_use_id ? `claude-code:${event.tool_use_id}` : `claude-code:${event.session_id}:${(deps.clock ?? (() => new Date()))().getTime()}`;
}

/**
 * The tool has already run: a failure here cannot stop it, so the answer replaces its output.
 * A plain exit 2 would let Claude Code hand the unscrubbed, unrecorded output to the model.
 */
function withheldAnswer(event: PostToolUseEvent, why: string, error: unknown): HookAnswer {
  const withheld = `[withheld by Gatehouse: ${why}]`;
  return {
    exitCode: 0,
    stdout: `${JSON.stringify({ hookSpecificOutput: { hookEventName: "PostToolUse", updatedToolOutput: withheld, ...(event.tool_name.startsWith("mcp__") ? { updatedMCPToolOutput: withheld } : {}) } })}\n`,
    stderr: `gatehouse: ${why} (${event.tool_name}): ${error instanceof Error ? error.message : String(error)}\n`,
  };
}

async function postToolUse(event: PostToolUseEvent, deps: HookDependencies): Promise<HookAnswer> {
  let scrubbed: unknown;
  let scrubbedInput: unknown;
  try {
    const scrubber = await deps.scrubber();
    scrubbed = scrubber.scrubValue(event.tool_response);
    scrubbedInput = scrubber.scrubValue(event.tool_input);
  } catch (error) {
    return withheldAnswer(event, "the result could not be scrubbed of secrets", error);
  }
  const changed = JSON.stringify(scrubbed) !== JSON.stringify(event.tool_response);
  try {
    // Everything up to the record is inside: an unreadable session file must not end in the exit 2
    // that hands Claude Code's raw output to the model.
    const intent = await deps.intents.get(event.session_id);
    const action = actionFor(event, scrubbedInput, deps, intent);
    const id = callId(event, deps);
    await deps.makeGate(() => id).recordOutcome(id, action, {
      status: "ok",
      result: scrubbed,
      ...(event.duration_ms === undefined ? {} : { durationMs: event.duration_ms }),
    });
  } catch (error) {
    // Nothing leaves unrecorded: withhold the output from the model.
    return withheldAnswer(event, "the audit log could not record this result", error);
  }
  if (!changed) return { exitCode: 0, stdout: "", stderr: "" };
  return {
    exitCode: 0,
    stdout: `${JSON.stringify({
      hookSpecificOutput: {
        hookEventName: "PostToolUse",
        updatedToolOutput: scrubbed,
        ...(event.tool_name.startsWith("mcp__") ? { updatedMCPToolOutput: scrubbed } : {}),
        additionalContext: "Gatehouse replaced secrets in this tool output with placeholders.",
      },
    })}\n`,
    stderr: "",
  };
}

/** Prompts that a person typed (or a program sent through the SDK) state the run's intent; machine-injected turns do not. */
const INTENT_SOURCES = new Set([undefined, "user", "sdk"]);

async function userPromptSubmit(event: UserPromptSubmitEvent, deps: HookDependencies): Promise<HookAnswer> {
  const scrubber = await deps.scrubber();
  const prompt = String(scrubber.scrubValue(event.prompt));
  const isIntent = INTENT_SOURCES.has(event.source);
  if (isIntent) await deps.intents.set(event.session_id, prompt);
  await deps.audit.append({
    type: "outcome",
    time: (deps.clock ?? (() => new Date()))().toISOString(),
    action: `claude-code:prompt:${event.session_id}:${Date.now()}`,
    tool: "claude-code.UserPromptSubmit",
    run: event.session_id,
    ...(deps.config.agent ? { agent: deps.config.agent } : {}),
    outcome: { status: "ok", result: { prompt, source: event.source ?? "user", intent: isIntent } },
  });
  return { exitCode: 0, stdout: "", stderr: "" };
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

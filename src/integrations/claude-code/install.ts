import { copyFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { ClaudeCodeError } from "./errors.js";

/** Where and what to install. */
export interface InstallOptions {
  readonly scope: "project" | "user";
  /** The project directory (for `--project`). */
  readonly project: string;
  readonly home: string;
  /** The hook command Claude Code runs (shell text), e.g. `'/usr/bin/node' '/…/main.js' hook claude-code --policy '/…/policy.yaml'`. */
  readonly command: string;
  /** Where the installed command is remembered per settings file, so uninstall removes exactly it. */
  readonly manifest?: string;
  /** Seconds Claude Code waits for the hook. */
  readonly timeout?: number;
  readonly clock?: () => Date;
}

export interface InstallResult {
  readonly file: string;
  readonly changed: boolean;
  /** Line diff of the settings file (`-`/`+` lines), empty when nothing changed. */
  readonly diff: string;
  /** The copy of the file as it was, when there was one and it changed. */
  readonly backup?: string;
}

/** The events the hook answers, and the matcher each gets (`*`: every tool). */
const EVENTS: readonly [string, string | undefined][] = [
  ["PreToolUse", "*"],
  ["PostToolUse", "*"],
  ["UserPromptSubmit", undefined],
];

/** `.claude/settings.json` of the project, or `~/.claude/settings.json`. */
export function settingsPath(options: Pick<InstallOptions, "scope" | "project" | "home">): string {
  return options.scope === "project" ? join(options.project, ".claude", "settings.json") : join(options.home, ".claude", "settings.json");
}

type Settings = Record<string, unknown> & { hooks?: Record<string, unknown> };
interface HookEntry {
  type?: unknown;
  command?: unknown;
  timeout?: unknown;
}
interface MatcherGroup {
  matcher?: unknown;
  hooks?: HookEntry[];
}

/**
 * Adds Gatehouse's hooks (PreToolUse, PostToolUse, UserPromptSubmit) to Claude Code's settings.
 * Idempotent (an identical entry is not added twice); other settings and hooks are kept as they
 * are; the previous file is copied to `settings.json.gatehouse-backup-<time>` before it changes.
 *
 * @example
 * const result = await installClaudeCode({ scope: "project", project: process.cwd(), home: os.homedir(), command });
 * console.log(result.diff);
 */
export async function installClaudeCode(options: InstallOptions): Promise<InstallResult> {
  const file = settingsPath(options);
  const { settings, text } = await readSettings(file);
  const hooks = (settings.hooks ??= {});
  if (typeof hooks !== "object" || Array.isArray(hooks)) throw new ClaudeCodeError("settings-invalid", `${file}: \`hooks\` must be an object`);
  for (const [event, matcher] of EVENTS) {
    const groups = (hooks[event] ??= []) as MatcherGroup[];
    if (!Array.isArray(groups)) throw new ClaudeCodeError("settings-invalid", `${file}: \`hooks.${event}\` must be an array`);
    const present = groups.some((g) => Array.isArray(g.hooks) && g.hooks.some((h) => h.type === "command" && h.command === options.command));
    if (present) continue;
    groups.push({ ...(matcher === undefined ? {} : { matcher }), hooks: [{ type: "command", command: options.command, timeout: options.timeout ?? 60 }] });
  }
  const result = await writeSettings(file, text, settings, options.clock);
  if (options.manifest) await rememberCommand(options.manifest, file, options.command);
  return result;
}

async function readManifest(manifest: string): Promise<Record<string, string>> {
  try {
    const data = JSON.parse(await readFile(manifest, "utf8")) as unknown;
    return typeof data === "object" && data !== null ? (data as Record<string, string>) : {};
  } catch {
    return {};
  }
}

async function rememberCommand(manifest: string, file: string, command: string | undefined): Promise<void> {
  const data = await readManifest(manifest);
  if (command === undefined) delete data[file];
  else data[file] = command;
  await mkdir(dirname(manifest), { recursive: true, mode: 0o700 });
  await writeFile(manifest, `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
}

/** The hook command last installed into `file`, from the manifest. */
export async function installedCommand(manifest: string, file: string): Promise<string | undefined> {
  return (await readManifest(manifest))[file];
}

/**
 * Removes exactly the entries `installClaudeCode` added with this `command`: matcher groups and
 * event lists it leaves empty go too; everything else stays.
 */
export async function uninstallClaudeCode(options: InstallOptions): Promise<InstallResult> {
  const file = settingsPath(options);
  const { settings, text } = await readSettings(file);
  if (text === undefined) return { file, changed: false, diff: "" };
  const hooks = settings.hooks;
  if (hooks && typeof hooks === "object" && !Array.isArray(hooks)) {
    for (const [event] of EVENTS) {
      const groups = hooks[event];
      if (!Array.isArray(groups)) continue;
      const kept: MatcherGroup[] = [];
      for (const group of groups as MatcherGroup[]) {
        if (!Array.isArray(group.hooks)) {
          kept.push(group);
          continue;
        }
        const remaining = group.hooks.filter((h) => !(h.type === "command" && h.command === options.command));
        if (remaining.length === group.hooks.length) kept.push(group);
        else if (remaining.length > 0) kept.push({ ...group, hooks: remaining });
      }
      if (kept.length > 0) hooks[event] = kept;
      else delete hooks[event];
    }
    if (Object.keys(hooks).length === 0) delete settings.hooks;
  }
  const result = await writeSettings(file, text, settings, options.clock);
  if (options.manifest) await rememberCommand(options.manifest, file, undefined);
  return result;
}

async function readSettings(file: string): Promise<{ settings: Settings; text: string | undefined }> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { settings: {}, text: undefined };
    throw new ClaudeCodeError("settings-unwritable", `cannot read ${file}: ${String(error)}`);
  }
  let settings: unknown;
  try {
    settings = text.trim() === "" ? {} : JSON.parse(text);
  } catch (error) {
    throw new ClaudeCodeError("settings-invalid", `${file} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`, "fix or move the file, then install again");
  }
  if (typeof settings !== "object" || settings === null || Array.isArray(settings)) {
    throw new ClaudeCodeError("settings-invalid", `${file} must hold a JSON object`);
  }
  return { settings: settings as Settings, text };
}

async function writeSettings(file: string, before: string | undefined, settings: Settings, clock: (() => Date) | undefined): Promise<InstallResult> {
  const after = `${JSON.stringify(settings, null, 2)}\n`;
  const previous = before ?? "";
  if (before !== undefined && normalizeJson(before) === after) return { file, changed: false, diff: "" };
  if (before === undefined && Object.keys(settings).length === 0) return { file, changed: false, diff: "" };
  let backup: string | undefined;
  try {
    await mkdir(dirname(file), { recursive: true });
    if (before !== undefined) {
      const stamp = (clock ?? (() => new Date()))().toISOString().replace(/[:.]/g, "-");
      backup = `${file}.gatehouse-backup-${stamp}`;
      await copyFile(file, backup);
    }
    const temp = `${file}.gatehouse-tmp`;
    await writeFile(temp, after, { mode: 0o644 });
    await rename(temp, file);
  } catch (error) {
    throw new ClaudeCodeError("settings-unwritable", `cannot write ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { file, changed: true, diff: lineDiff(before === undefined ? "" : normalizeJson(previous), after), ...(backup ? { backup } : {}) };
}

function normalizeJson(text: string): string {
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
  } catch {
    return text;
  }
}

/** A minimal line diff (longest common subsequence): ` ` kept, `-` removed, `+` added. */
export function lineDiff(before: string, after: string): string {
  const a = before === "" ? [] : before.replace(/\n$/, "").split("\n");
  const b = after.replace(/\n$/, "").split("\n");
  const n = a.length;
  const m = b.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = a[i] === b[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      out.push(`  ${a[i]}`);
      i++;
      j++;
    } else if (j < m && (i >= n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) out.push(`+ ${b[j++]}`);
    else out.push(`- ${a[i++]}`);
  }
  return out.join("\n");
}

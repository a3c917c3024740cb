import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The user's request per Claude Code session, kept across hook processes. */
export interface IntentStore {
  get(session: string): Promise<string | undefined>;
  set(session: string, prompt: string): Promise<void>;
  /** The session's project directory: `cwd` the first time, the stored one after (never moved by the agent). */
  pinProject(session: string, cwd: string): Promise<string>;
}

/** Requests longer than this are stored cut (with a marker): intent is context, not a transcript. */
export const MAX_INTENT_CHARS = 8000;

/**
 * Keeps each session's latest user request in `<dir>/<sha256(session)>.json` (mode 0600, written
 * atomically), so the next hook process — a new process per tool call — can attach it to the
 * Action as `request`. The session id is hashed: it is Claude Code's text, not a safe file name.
 *
 * @example
 * const intents = fileIntentStore(join(dataDir, "claude-code", "sessions"));
 */
export function fileIntentStore(dir: string): IntentStore {
  const file = (session: string, kind = "") => join(dir, `${createHash("sha256").update(session).digest("hex")}${kind}.json`);
  return {
    async pinProject(session, cwd) {
      const target = file(session, ".project");
      try {
        const data = JSON.parse(await readFile(target, "utf8")) as { session?: unknown; project?: unknown };
        if (data.session === session && typeof data.project === "string") return data.project;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      await mkdir(dir, { recursive: true, mode: 0o700 });
      try {
        // `wx`: the first writer wins; a concurrent hook process reads what it wrote.
        await writeFile(target, JSON.stringify({ session, project: cwd }), { mode: 0o600, flag: "wx" });
        return cwd;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        const data = JSON.parse(await readFile(target, "utf8")) as { project?: unknown };
        if (typeof data.project !== "string") throw new Error(`the session state ${target} is damaged`, { cause: error });
        return data.project;
      }
    },
    async get(session) {
      let text: string;
      try {
        text = await readFile(file(session), "utf8");
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
        throw error;
      }
      const data = JSON.parse(text) as { session?: unknown; prompt?: unknown };
      return data.session === session && typeof data.prompt === "string" ? data.prompt : undefined;
    },
    async set(session, prompt) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const cut = prompt.length > MAX_INTENT_CHARS ? `${prompt.slice(0, MAX_INTENT_CHARS)}…[cut]` : prompt;
      const target = file(session);
      const temp = `${target}.${randomBytes(6).toString("hex")}.tmp`;
      await writeFile(temp, JSON.stringify({ session, prompt: cut, time: new Date().toISOString() }), { mode: 0o600 });
      await rename(temp, target);
    },
  };
}

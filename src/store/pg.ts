import type pg from "pg";

/**
 * The pg driver, loaded on first use: every command that opens a SQLite store would otherwise pay
 * for pg (and what it pulls in) at start-up, the hook Claude Code runs before each tool call too.
 */
export async function loadPg(): Promise<typeof pg> {
  return (await import("pg")).default;
}

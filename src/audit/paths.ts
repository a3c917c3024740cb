import { homedir } from "node:os";
import { isAbsolute, join } from "node:path";

/**
 * Gatehouse's own data directory: `$XDG_DATA_HOME/gatehouse`, or `~/.local/share/gatehouse`
 * when XDG_DATA_HOME is unset or relative (the XDG spec says to ignore relative values). It is
 * not the agent's workspace, so the agent's file tools do not reach the log by default.
 *
 * @example
 * defaultDataDir({ XDG_DATA_HOME: "/srv/data" }) // "/srv/data/gatehouse"
 */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>> = process.env, home: string = homedir()): string {
  const xdg = env.XDG_DATA_HOME;
  if (xdg && isAbsolute(xdg)) return join(xdg, "gatehouse");
  return join(home, ".local", "share", "gatehouse");
}

/** Default file names inside the data directory. */
export const AUDIT_FILES = {
  database: "audit.db",
  signingKey: "audit.key",
  verifierKey: "audit.key.pub",
} as const;

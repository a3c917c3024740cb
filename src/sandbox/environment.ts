/**
 * The environment of a sandboxed command: an allow-list, so no ambient credential (cloud keys,
 * tokens, SSH agent sockets) passes in unless a profile names it exactly.
 */

/** Variables every profile passes through (terminal, locale, path). */
export const BASE_ENV_ALLOW = ["PATH", "LANG", "LANGUAGE", "LC_*", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "TZ", "USER", "LOGNAME", "CI"] as const;

/**
 * Names that look like credentials. A prefix pattern (`AWS_*`) never lets these in; only an exact
 * name in the profile does, which is a person's deliberate choice.
 */
const CREDENTIAL_NAME = /(TOKEN|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|API_?KEY|ACCESS_KEY|PRIVATE|AUTH|SESSION|COOKIE|_KEY$|^AWS_|^GOOGLE_APPLICATION|^AZURE_|^SSH_AUTH_SOCK$|^GPG_AGENT|^KUBECONFIG$|^DOCKER_|^NPM_CONFIG_|^VAULT_)/i;

/** True when a variable name looks like it carries a credential. */
export function isCredentialName(name: string): boolean {
  return CREDENTIAL_NAME.test(name);
}

/**
 * Builds the sandbox environment from the caller's, keeping only allowed names, then applying
 * fixed values and the variables the runner owns (HOME, TMPDIR, proxies).
 *
 * @example
 * buildEnvironment(process.env, ["NODE_ENV"], {}, { HOME: "/home/me", TMPDIR: "/tmp" })
 */
export function buildEnvironment(
  source: Readonly<Record<string, string | undefined>>,
  allow: readonly string[],
  set: Readonly<Record<string, string>>,
  owned: Readonly<Record<string, string>>,
): Record<string, string> {
  const patterns = [...BASE_ENV_ALLOW, ...allow];
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(source)) {
    if (value === undefined || value.includes("\0")) continue;
    const allowed = patterns.some((p) => (p.endsWith("*") ? name.startsWith(p.slice(0, -1)) && !isCredentialName(name) : p === name));
    if (allowed) env[name] = value;
  }
  Object.assign(env, set, owned);
  return env;
}

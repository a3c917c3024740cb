import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { SecretError } from "./errors.js";
import type { SecretSource, VaultServerConfig } from "../policy/index.js";

/** Shortest value Gatehouse accepts: shorter ones cannot be told apart from ordinary text when scrubbing. */
export const MIN_SECRET_LENGTH = 8;
/** Longest value Gatehouse accepts (64 KiB): enough for any key or certificate chain. */
export const MAX_SECRET_BYTES = 64 * 1024;

/** Reads the Gatehouse process's own environment (usually `process.env`). */
export interface EnvProvider {
  read(name: string, handle: string): Promise<string>;
}

/** Reads secret files that only their owner may read. */
export interface FileProvider {
  read(path: string, handle: string): Promise<string>;
}

/** Reads one field of a KV v2 secret from one Vault server. */
export interface VaultProvider {
  readonly name: string;
  read(request: { path: string; key: string; version?: number | undefined }, handle: string): Promise<string>;
  /** The Vault token currently in use, so the scrubber can learn it; throws like `read`. */
  token(): Promise<string>;
}

/** The providers a broker resolves sources with. */
export interface SecretProviders {
  readonly env: EnvProvider;
  readonly file: FileProvider;
  readonly vault: Readonly<Record<string, VaultProvider>>;
}

/** Where a source points, for messages: never the value. */
export function describeSource(source: SecretSource): string {
  if ("env" in source) return `environment variable \`${source.env}\``;
  if ("file" in source) return `file \`${source.file}\``;
  return `Vault \`${source.vault}\` secret \`${source.path}\` field \`${source.key}\``;
}

/** Resolves one source through the providers; throws `SecretError` naming the handle on any failure. */
export async function resolveSource(source: SecretSource, handle: string, providers: SecretProviders): Promise<string> {
  if ("env" in source) return providers.env.read(source.env, handle);
  if ("file" in source) return providers.file.read(source.file, handle);
  const vault = providers.vault[source.vault];
  if (!vault) {
    throw new SecretError("secret-provider-unavailable", `secret \`${handle}\`: no Vault server \`${source.vault}\` is configured`, {
      handle,
      help: "declare it under `secrets.vault`",
    });
  }
  return vault.read({ path: source.path, key: source.key, version: source.version }, handle);
}

/**
 * Checks a resolved value before anyone uses it. Too short a value would make the scrubber
 * either miss it or redact ordinary words; a NUL byte hints at a binary file read by mistake.
 */
export function assertUsableValue(value: string, handle: string, where: string): string {
  if (value.length === 0) {
    throw new SecretError("secret-missing", `secret \`${handle}\`: ${where} is empty`, { handle, help: "set a value" });
  }
  if (value.length < MIN_SECRET_LENGTH) {
    throw new SecretError(
      "secret-too-short",
      `secret \`${handle}\`: the value from ${where} is shorter than ${MIN_SECRET_LENGTH} characters`,
      { handle, help: "a value this short cannot be scrubbed reliably; use a longer credential" },
    );
  }
  if (Buffer.byteLength(value, "utf8") > MAX_SECRET_BYTES) {
    throw new SecretError("secret-value-invalid", `secret \`${handle}\`: the value from ${where} is larger than 64 KiB`, {
      handle,
    });
  }
  if (value.includes("\0")) {
    throw new SecretError("secret-value-invalid", `secret \`${handle}\`: the value from ${where} contains a NUL byte`, {
      handle,
      help: "store the value as text (base64-encode binary keys)",
    });
  }
  return value;
}

/**
 * Reads variables of the Gatehouse process. The agent's tools never see this environment: a
 * tool gets only the values of the handles bound to it.
 *
 * @example
 * const env = createEnvProvider(process.env);
 */
export function createEnvProvider(env: Readonly<Record<string, string | undefined>>): EnvProvider {
  return {
    read(name, handle) {
      const where = `environment variable \`${name}\``;
      const value = Object.prototype.hasOwnProperty.call(env, name) ? env[name] : undefined;
      return new Promise((resolve) => {
        if (value === undefined) {
          throw new SecretError("secret-missing", `secret \`${handle}\`: ${where} is not set`, {
            handle,
            help: `export ${name} in the environment Gatehouse starts with`,
          });
        }
        resolve(assertUsableValue(value, handle, where));
      });
    },
  };
}

/**
 * Reads secret files. A file that its group or others may read or write is refused, as ssh
 * refuses a private key with loose permissions: anyone else on the host could already have it.
 * The mode is checked on the open descriptor (no race between check and read), FIFOs and
 * devices are refused, and one trailing newline (`\n` or `\r\n`) is dropped.
 *
 * @example
 * const files = createFileProvider();
 */
export function createFileProvider(): FileProvider {
  return {
    async read(path, handle) {
      const where = `file \`${path}\``;
      let fh;
      try {
        // O_NONBLOCK: opening a FIFO planted at the path must not hang the gate.
        fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
      } catch (error) {
        throw fileError(error, handle, where, path);
      }
      try {
        const stat = await fh.stat();
        if (!stat.isFile()) {
          throw new SecretError("secret-file-permissions", `secret \`${handle}\`: ${where} is not a regular file`, {
            handle,
            help: "point `from.file` at a regular file",
          });
        }
        const loose = stat.mode & 0o077;
        if (loose !== 0) {
          const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
          throw new SecretError(
            "secret-file-permissions",
            `secret \`${handle}\`: ${where} has mode ${mode}, so its group or others can access it; refused`,
            { handle, help: `run \`chmod 600 ${path}\` (owner read/write only)` },
          );
        }
        if (stat.size > MAX_SECRET_BYTES) {
          throw new SecretError("secret-value-invalid", `secret \`${handle}\`: ${where} is larger than 64 KiB`, { handle });
        }
        const text = await fh.readFile({ encoding: "utf8" });
        return assertUsableValue(text.replace(/\r?\n$/, ""), handle, where);
      } catch (error) {
        if (error instanceof SecretError) throw error;
        throw fileError(error, handle, where, path);
      } finally {
        await fh.close();
      }
    },
  };
}

function fileError(error: unknown, handle: string, where: string, path: string): SecretError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") {
    return new SecretError("secret-missing", `secret \`${handle}\`: ${where} does not exist`, {
      handle,
      help: `create it with mode 0600, or fix \`from.file\``,
    });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new SecretError("secret-file-unreadable", `secret \`${handle}\`: Gatehouse may not read ${where}`, {
      handle,
      help: `make the Gatehouse user its owner: \`chown <gatehouse-user> ${path}\``,
    });
  }
  return new SecretError("secret-file-unreadable", `secret \`${handle}\`: cannot read ${where} (${code ?? "error"})`, {
    handle,
  });
}

/** What a Vault provider needs besides its configuration. */
export interface VaultDependencies {
  /** Reads the Vault token (from the env or file provider); called for every request, so a rotated token is picked up. */
  readonly token: () => Promise<string>;
  /** `fetch`; the global one when omitted. */
  readonly fetch?: typeof fetch;
}

const MAX_VAULT_BODY = 1024 * 1024;

/**
 * A client for HashiCorp Vault's KV v2 read endpoint, `GET /v1/<mount>/data/<path>` with the
 * `X-Vault-Token` header. A 403 is told apart by asking `GET /v1/auth/token/lookup-self`: if the
 * token itself is refused it is invalid or expired (`secret-token-invalid`), otherwise the token's
 * policy does not cover the path (`secret-forbidden`). Redirects are refused (they would carry
 * the token to another address); nothing is cached, so a revoked secret is never served stale.
 *
 * @example
 * const vault = createVaultProvider("main", config.vault.main, { token: () => env.read("VAULT_TOKEN", "vault.main.token") });
 */
export function createVaultProvider(name: string, config: VaultServerConfig, deps: VaultDependencies): VaultProvider {
  const doFetch = deps.fetch ?? fetch;
  const base = config.address.replace(/\/+$/, "");
  const label = `Vault \`${name}\` (${base})`;

  async function request(path: string, token: string, handle: string): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { "X-Vault-Token": token, Accept: "application/json" };
    if (config.namespace) headers["X-Vault-Namespace"] = config.namespace;
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method: "GET",
        headers,
        redirect: "error",
        signal: AbortSignal.timeout(config.timeoutMs),
      });
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      throw new SecretError(
        "secret-provider-unavailable",
        `secret \`${handle}\`: ${label} ${timedOut ? `did not answer within ${config.timeoutMs} ms` : "cannot be reached"}`,
        { handle, help: "check that Vault is running and reachable from Gatehouse; the tool stays denied until it is" },
      );
    }
    const text = await readCapped(response);
    let body: unknown = undefined;
    if (text !== undefined && text.length > 0) {
      try {
        body = JSON.parse(text);
      } catch {
        // The body may hold secret values: never attach it or the parser's message (which quotes it).
        body = undefined;
      }
    }
    return { status: response.status, body };
  }

  async function token(): Promise<string> {
    return deps.token();
  }

  return {
    name,
    token,
    async read({ path, key, version }, handle) {
      const vaultToken = await token();
      const where = `${label} secret \`${config.mount}/${path}\``;
      const query = version === undefined ? "" : `?version=${version}`;
      const { status, body } = await request(`/v1/${config.mount}/data/${path}${query}`, vaultToken, handle);
      if (status === 200) {
        const data = readKvData(body);
        if (data === undefined) {
          throw new SecretError("secret-provider-unavailable", `secret \`${handle}\`: ${where} answered 200 without KV v2 data`, {
            handle,
            help: `check that \`${config.mount}\` is a KV version 2 mount`,
          });
        }
        if (data === null) {
          throw new SecretError("secret-missing", `secret \`${handle}\`: ${where} is deleted or destroyed`, {
            handle,
            help: "write a new version or undelete it",
          });
        }
        if (!Object.prototype.hasOwnProperty.call(data, key)) {
          const fields = Object.keys(data).slice(0, 20).map((f) => `\`${f}\``);
          throw new SecretError("secret-missing", `secret \`${handle}\`: ${where} has no field \`${key}\``, {
            handle,
            help: fields.length ? `fields there: ${fields.join(", ")}` : "the secret has no fields",
          });
        }
        const value = data[key];
        if (typeof value !== "string") {
          throw new SecretError(
            "secret-value-invalid",
            `secret \`${handle}\`: ${where} field \`${key}\` is ${value === null ? "null" : `a ${typeof value}`}, not a string`,
            { handle, help: "store the value as a string" },
          );
        }
        return assertUsableValue(value, handle, `${where} field \`${key}\``);
      }
      if (status === 404) {
        throw new SecretError("secret-missing", `secret \`${handle}\`: ${where} does not exist`, {
          handle,
          help: `write it with \`vault kv put -mount=${config.mount} ${path} ${key}=...\``,
        });
      }
      if (status === 401 || status === 403) {
        const self = await request("/v1/auth/token/lookup-self", vaultToken, handle);
        if (self.status === 200) {
          throw new SecretError("secret-forbidden", `secret \`${handle}\`: the token of ${label} may not read \`${config.mount}/${path}\``, {
            handle,
            help: `grant the token's policy \`read\` on \`${config.mount}/data/${path}\``,
          });
        }
        throw new SecretError("secret-token-invalid", `secret \`${handle}\`: the token of ${label} is invalid or expired`, {
          handle,
          help: "issue a new Vault token for Gatehouse (or renew it before its TTL runs out)",
        });
      }
      const reason = status === 503 ? "is sealed or in standby (503)" : `answered HTTP ${status}`;
      throw new SecretError("secret-provider-unavailable", `secret \`${handle}\`: ${label} ${reason}${vaultErrors(body)}`, {
        handle,
        help: "the tool stays denied until Vault answers; nothing falls back to a cached or empty value",
      });
    },
  };
}

async function readCapped(response: Response): Promise<string | undefined> {
  const length = Number(response.headers.get("content-length") ?? "0");
  if (length > MAX_VAULT_BODY) {
    await response.body?.cancel();
    return undefined;
  }
  const text = await response.text();
  return text.length > MAX_VAULT_BODY ? undefined : text;
}

/** `data.data` of a KV v2 read: an object, `null` for a deleted version, `undefined` when the shape is wrong. */
function readKvData(body: unknown): Record<string, unknown> | null | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const outer = (body as { data?: unknown }).data;
  if (typeof outer !== "object" || outer === null) return undefined;
  const inner = (outer as { data?: unknown }).data;
  if (inner === null) return null;
  if (typeof inner !== "object" || Array.isArray(inner)) return undefined;
  return inner as Record<string, unknown>;
}

/** Vault's own `errors` strings, shortened: they explain a 5xx but come from a server we do not control. */
function vaultErrors(body: unknown): string {
  if (typeof body !== "object" || body === null) return "";
  const errors = (body as { errors?: unknown }).errors;
  if (!Array.isArray(errors)) return "";
  const text = errors
    .filter((e): e is string => typeof e === "string")
    .join("; ")
    .replace(/[^\x20-\x7e]/g, "?")
    .slice(0, 200);
  return text ? `: ${text}` : "";
}

import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SecretError,
  SecretsConfigSchema,
  createEnvProvider,
  createFileProvider,
  createVaultProvider,
  type SecretErrorCode,
  type VaultServerConfig,
} from "../src/secrets/index.js";

async function rejection(promise: Promise<unknown>): Promise<SecretError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SecretError);
    return error as SecretError;
  }
  throw new Error("expected a rejection");
}

describe("the environment provider", () => {
  const env = createEnvProvider({ STRIPE_KEY: "sk_test_0123456789abcdef", EMPTY: "", SHORT: "abc", NUL: "abcdefgh\0ij" });

  it("reads a variable of the Gatehouse process", async () => {
    await expect(env.read("STRIPE_KEY", "stripe_key")).resolves.toBe("sk_test_0123456789abcdef");
  });

  it.each<[string, string, SecretErrorCode, RegExp]>([
    ["an unset variable", "MISSING", "secret-missing", /secret `h`: environment variable `MISSING` is not set/],
    ["an empty variable", "EMPTY", "secret-missing", /is empty/],
    ["a value under 8 characters", "SHORT", "secret-too-short", /shorter than 8 characters/],
    ["a value with a NUL byte", "NUL", "secret-value-invalid", /NUL byte/],
    ["an inherited property name", "toString", "secret-missing", /is not set/],
  ])("refuses %s, naming the handle", async (_name, variable, code, message) => {
    const error = await rejection(env.read(variable, "h"));
    expect(error.code).toBe(code);
    expect(error.handle).toBe("h");
    expect(error.message).toMatch(message);
  });
});

describe("the file provider", () => {
  let dir: string;
  const files = createFileProvider();
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-secrets-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function secretFile(name: string, content: string, mode: number): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content);
    await chmod(path, mode);
    return path;
  }

  it.each([0o600, 0o400])("reads a file of mode %o and drops one trailing newline", async (mode) => {
    const path = await secretFile(`ok-${mode}`, "db-password-123\n", mode);
    await expect(files.read(path, "db")).resolves.toBe("db-password-123");
  });

  it("keeps inner line breaks of a multi-line value (a PEM key)", async () => {
    const path = await secretFile("pem", "-----BEGIN X-----\nabcdefgh\n-----END X-----\r\n", 0o600);
    await expect(files.read(path, "pem")).resolves.toBe("-----BEGIN X-----\nabcdefgh\n-----END X-----");
  });

  it.each([0o644, 0o640, 0o604, 0o660, 0o606, 0o610, 0o601])("refuses a file of mode %o that others can reach", async (mode) => {
    const path = await secretFile(`loose-${mode}`, "db-password-123", mode);
    const error = await rejection(files.read(path, "db"));
    expect(error.code).toBe("secret-file-permissions");
    expect(error.message).toContain(`has mode 0${mode.toString(8)}`);
    expect(error.message).toContain("secret `db`");
    expect(error.help).toBe(`run \`chmod 600 ${path}\` (owner read/write only)`);
    expect(error.message).not.toContain("db-password-123");
  });

  it("refuses a missing file", async () => {
    const error = await rejection(files.read(join(dir, "nope"), "db"));
    expect(error.code).toBe("secret-missing");
    expect(error.message).toMatch(/secret `db`: file `.*nope` does not exist/);
  });

  it("refuses a directory", async () => {
    const error = await rejection(files.read(dir, "db"));
    expect(error.code).toBe("secret-file-permissions");
    expect(error.message).toContain("is not a regular file");
  });

  it("refuses a FIFO planted at the path without hanging", async () => {
    const path = join(dir, "fifo");
    execFileSync("mkfifo", ["-m", "600", path]);
    const error = await rejection(files.read(path, "db"));
    expect(error.code).toBe("secret-file-permissions");
  });

  it("refuses an empty file", async () => {
    const path = await secretFile("empty", "\n", 0o600);
    expect((await rejection(files.read(path, "db"))).code).toBe("secret-missing");
  });

  it("checks the mode of the file a symlink points at", async () => {
    const target = await secretFile("target", "db-password-123", 0o644);
    const link = join(dir, "link");
    execFileSync("ln", ["-s", target, link]);
    expect((await rejection(files.read(link, "db"))).code).toBe("secret-file-permissions");
  });
});

/**
 * A small HTTP server that answers like Vault's KV v2 engine: `GET /v1/<mount>/data/<path>` with
 * `X-Vault-Token`, and `GET /v1/auth/token/lookup-self`. There is no Vault binary on this
 * machine, so this is what the provider is tested against.
 */
interface FakeVault {
  server: Server;
  url: string;
  /** token → "valid" (may read everything under `allowed`), or absent (expired/revoked). */
  tokens: Map<string, { allowed: string }>;
  secrets: Map<string, { versions: (Record<string, unknown> | null)[] }>;
  mode: "normal" | "sealed" | "hang" | "garbage" | "redirect";
  requests: IncomingMessage[];
}

async function startFakeVault(): Promise<FakeVault> {
  const vault: FakeVault = {
    server: undefined as unknown as Server,
    url: "",
    tokens: new Map(),
    secrets: new Map(),
    mode: "normal",
    requests: [],
  };
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  vault.server = createServer((req, res) => {
    vault.requests.push(req);
    if (vault.mode === "hang") return;
    if (vault.mode === "sealed") return send(res, 503, { errors: ["Vault is sealed"] });
    if (vault.mode === "garbage") {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end("{not json");
    }
    if (vault.mode === "redirect") {
      res.writeHead(307, { location: "http://127.0.0.1:1/elsewhere" });
      return res.end();
    }
    const token = req.headers["x-vault-token"];
    const grant = typeof token === "string" ? vault.tokens.get(token) : undefined;
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/v1/auth/token/lookup-self") {
      if (!grant) return send(res, 403, { errors: ["permission denied"] });
      return send(res, 200, { data: { ttl: 3600, policies: ["default"] } });
    }
    const match = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(url.pathname);
    if (!match) return send(res, 404, { errors: [] });
    if (!grant) return send(res, 403, { errors: ["permission denied"] });
    const [, mount, path] = match;
    const key = `${mount}/${path}`;
    if (!key.startsWith(grant.allowed)) return send(res, 403, { errors: ["1 error occurred:\n\t* permission denied\n\n"] });
    const secret = vault.secrets.get(key);
    if (!secret) return send(res, 404, { errors: [] });
    const wanted = url.searchParams.get("version");
    const index = wanted === null ? secret.versions.length - 1 : Number(wanted) - 1;
    const data = secret.versions[index];
    if (data === undefined) return send(res, 404, { errors: [] });
    const metadata = { version: index + 1, created_time: "2026-11-22T00:00:00Z", deletion_time: data === null ? "2026-11-22T01:00:00Z" : "", destroyed: false };
    if (data === null) return send(res, 404, { data: { data: null, metadata } });
    return send(res, 200, { request_id: "r", lease_id: "", renewable: false, lease_duration: 0, data: { data, metadata } });
  });
  await new Promise<void>((resolve) => vault.server.listen(0, "127.0.0.1", resolve));
  vault.url = `http://127.0.0.1:${(vault.server.address() as AddressInfo).port}`;
  return vault;
}

describe("the Vault KV v2 provider against a KV v2 server on 127.0.0.1", () => {
  let vault: FakeVault;
  let token = "hvs.good-token";
  const config = (): VaultServerConfig => ({ address: vault.url, mount: "secret", token: { env: "VAULT_TOKEN" }, timeoutMs: 300, namespace: "team-a" });
  const provider = () => createVaultProvider("main", config(), { token: () => Promise.resolve(token) });

  beforeAll(async () => {
    vault = await startFakeVault();
    vault.tokens.set("hvs.good-token", { allowed: "secret/payments" });
    vault.tokens.set("hvs.narrow-token", { allowed: "secret/other" });
    vault.secrets.set("secret/payments/stripe", { versions: [{ api_key: "sk_test_version_one_00" }, { api_key: "sk_test_version_two_00", count: 3, nothing: null }] });
    vault.secrets.set("secret/payments/deleted", { versions: [{ api_key: "sk_test_gone_gone_gone" }, null] });
  });
  afterAll(async () => {
    vault.server.closeAllConnections();
    await new Promise((resolve) => vault.server.close(resolve));
  });

  it("reads the latest version of a field, sending the token and namespace headers", async () => {
    vault.mode = "normal";
    token = "hvs.good-token";
    await expect(provider().read({ path: "payments/stripe", key: "api_key" }, "stripe_key")).resolves.toBe("sk_test_version_two_00");
    const last = vault.requests[vault.requests.length - 1]!;
    expect(last.headers["x-vault-token"]).toBe("hvs.good-token");
    expect(last.headers["x-vault-namespace"]).toBe("team-a");
    expect(last.url).toBe("/v1/secret/data/payments/stripe");
  });

  it("reads a pinned version", async () => {
    vault.mode = "normal";
    token = "hvs.good-token";
    await expect(provider().read({ path: "payments/stripe", key: "api_key", version: 1 }, "stripe_key")).resolves.toBe("sk_test_version_one_00");
  });

  it.each<[string, () => void, { path: string; key: string }, SecretErrorCode, RegExp]>([
    ["a path that does not exist", () => {}, { path: "payments/nope", key: "api_key" }, "secret-missing", /secret `stripe_key`: Vault `main` .* secret `secret\/payments\/nope` does not exist/],
    ["a field that does not exist", () => {}, { path: "payments/stripe", key: "apikey" }, "secret-missing", /has no field `apikey`/],
    ["a field that is not a string", () => {}, { path: "payments/stripe", key: "count" }, "secret-value-invalid", /field `count` is a number, not a string/],
    ["a field that is null", () => {}, { path: "payments/stripe", key: "nothing" }, "secret-value-invalid", /is null, not a string/],
    ["a deleted latest version", () => {}, { path: "payments/deleted", key: "api_key" }, "secret-missing", /does not exist/],
    ["an expired or revoked token", () => { token = "hvs.expired"; }, { path: "payments/stripe", key: "api_key" }, "secret-token-invalid", /the token of Vault `main` .* is invalid or expired/],
    ["a token whose policy does not cover the path", () => { token = "hvs.narrow-token"; }, { path: "payments/stripe", key: "api_key" }, "secret-forbidden", /may not read `secret\/payments\/stripe`/],
    ["a sealed Vault", () => { vault.mode = "sealed"; }, { path: "payments/stripe", key: "api_key" }, "secret-provider-unavailable", /is sealed or in standby \(503\): Vault is sealed/],
    ["a Vault that never answers", () => { vault.mode = "hang"; }, { path: "payments/stripe", key: "api_key" }, "secret-provider-unavailable", /did not answer within 300 ms/],
    ["a body that is not JSON", () => { vault.mode = "garbage"; }, { path: "payments/stripe", key: "api_key" }, "secret-provider-unavailable", /answered 200 without KV v2 data/],
    ["a redirect (it would carry the token elsewhere)", () => { vault.mode = "redirect"; }, { path: "payments/stripe", key: "api_key" }, "secret-provider-unavailable", /cannot be reached/],
  ])("fails closed on %s, naming the handle", async (_name, arrange, request, code, message) => {
    vault.mode = "normal";
    token = "hvs.good-token";
    arrange();
    const error = await rejection(provider().read(request, "stripe_key"));
    expect(error.code).toBe(code);
    expect(error.handle).toBe("stripe_key");
    expect(error.message).toMatch(message);
    expect(error.message).not.toContain("sk_test_version");
    expect(error.message).not.toContain(token);
  });

  it("fails closed when Vault is down (nothing listens on the port)", async () => {
    const down = createVaultProvider("main", { ...config(), address: "http://127.0.0.1:1" }, { token: () => Promise.resolve("t") });
    const error = await rejection(down.read({ path: "payments/stripe", key: "api_key" }, "stripe_key"));
    expect(error.code).toBe("secret-provider-unavailable");
    expect(error.message).toBe("secret `stripe_key`: Vault `main` (http://127.0.0.1:1) cannot be reached");
  });

  it("refuses plain HTTP to anything but loopback in the configuration", () => {
    const parse = (address: string) =>
      SecretsConfigSchema.safeParse({ vault: { main: { address, token: { env: "VAULT_TOKEN" } } } });
    expect(parse("http://vault.internal:8200").success).toBe(false);
    expect(parse("https://vault.internal:8200").success).toBe(true);
    expect(parse("http://127.0.0.1:8200").success).toBe(true);
  });
});

import { generateKeyPairSync } from "node:crypto";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { createLocalJWKSet, decodeJwt, jwtVerify } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SecretError,
  SecretsConfigError,
  SecretsConfigSchema,
  checkSecretBindings,
  createSecretBroker,
  loadSecretsConfigFile,
  parseSecretsConfig,
  secretHandle,
  type SecretsConfig,
} from "../src/secrets/index.js";

const STRIPE = "sk_test_51Hx9aBcDeFgHiJkLmNoPq";
const GITHUB = "github-token-value-7f3a9c";

let dir: string;
let pemPath: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-broker-"));
  pemPath = join(dir, "signing.pem");
  const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  await writeFile(pemPath, pem);
  await chmod(pemPath, 0o600);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function config(extra: Partial<SecretsConfig> = {}): SecretsConfig {
  return parseSecretsConfig({
    handles: {
      stripe_key: { from: { env: "STRIPE_KEY" }, tools: ["charge_card"], hosts: ["api.stripe.com"] },
      github_token: { from: { env: "GITHUB_TOKEN" }, tools: ["open_pr", "charge_card"] },
    },
    tokens: { billing_api: { audience: "https://billing.internal", scope: ["invoices:read", "invoices:list"], ttlSeconds: 300, tools: ["list_invoices"] } },
    signing: { from: { file: pemPath }, alg: "ES256", issuer: "gatehouse-test", kid: "k1" },
    ...extra,
  });
}

describe("the secrets section of the policy", () => {
  it.each<[string, unknown, RegExp]>([
    ["an unknown key", { handles: {}, extra: 1 }, /Unrecognized key/],
    ["an unknown key in a handle", { handles: { a_key: { from: { env: "A" }, tools: [], tool: "x" } } }, /Unrecognized key/],
    ["a handle name with capitals", { handles: { StripeKey: { from: { env: "A" }, tools: [] } } }, /secrets\.handles\.StripeKey: name `StripeKey`: a handle is lowercase letters/],
    ["a relative file path", { handles: { a_key: { from: { file: "secrets/a" }, tools: [] } } }, /absolute/],
    ["a file path with `..`", { handles: { a_key: { from: { file: "/etc/../a" }, tools: [] } } }, /`\.\.`/],
    ["two sources at once", { handles: { a_key: { from: { env: "A", file: "/a" }, tools: [] } } }, /a source is one of/],
    ["a Vault server that is not declared", { handles: { a_key: { from: { vault: "main", path: "a", key: "k" }, tools: [] } } }, /no Vault server `main`/],
    ["a token living longer than 15 minutes", { tokens: { t: { audience: "a", scope: ["s"], ttlSeconds: 901, tools: [] } }, signing: { from: { env: "K" }, alg: "HS256", issuer: "i" } }, /at most 900 seconds/],
    ["tokens without a signing key", { tokens: { t: { audience: "a", scope: ["s"], ttlSeconds: 60, tools: [] } } }, /need a `signing` key/],
    ["a token and a handle with the same name", { handles: { t: { from: { env: "A" }, tools: [] } }, tokens: { t: { audience: "a", scope: ["s"], ttlSeconds: 60, tools: [] } }, signing: { from: { env: "K" }, alg: "HS256", issuer: "i" } }, /already a handle/],
    ["a scope with a space", { tokens: { t: { audience: "a", scope: ["a b"], ttlSeconds: 60, tools: [] } }, signing: { from: { env: "K" }, alg: "HS256", issuer: "i" } }, /without spaces/],
    ["an unsupported signing algorithm", { signing: { from: { env: "K" }, alg: "none", issuer: "i" } }, /Invalid option/],
    ["a host with a path", { handles: { a_key: { from: { env: "A" }, tools: [], hosts: ["api.stripe.com/v1"] } } }, /lowercase DNS name/],
  ])("refuses %s", (_name, section, message) => {
    expect(() => parseSecretsConfig(section, "gatehouse.yaml")).toThrow(message);
  });

  it("reports every problem with its line and column", async () => {
    const path = join(dir, "policy.yaml");
    await writeFile(
      path,
      ["version: 1", "secrets:", "  handles:", "    stripe_key:", "      from: { file: relative/path }", "      tools: [charge_card]", "      colour: red", ""].join("\n"),
    );
    const error = await loadSecretsConfigFile(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretsConfigError);
    const problems = (error as SecretsConfigError).problems;
    expect(problems.map((p) => `${p.line}:${p.column} ${p.field}`)).toEqual(
      expect.arrayContaining(["5:21 secrets.handles.stripe_key.from.file", "7:7 secrets.handles.stripe_key"]),
    );
    expect((error as SecretError).code).toBe("secrets-config-invalid");
  });

  it("names tools a secret is bound to that the policy does not list", () => {
    const problems = checkSecretBindings(config(), ["charge_card", "list_invoices"]);
    expect(problems.map((p) => `${p.field}: ${p.message}`)).toEqual(["secrets.handles.github_token.tools.0: `open_pr` is not a tool of the policy"]);
  });

  it("describes its fields (for the policy's JSON Schema)", () => {
    expect(SecretsConfigSchema.description).toMatch(/handle/);
  });
});

describe("the secret broker", () => {
  const env: Record<string, string | undefined> = { STRIPE_KEY: STRIPE, GITHUB_TOKEN: GITHUB };

  it("gives a tool exactly the secrets bound to it", async () => {
    const broker = createSecretBroker({ config: config(), env });
    expect(broker.handlesForTool("charge_card")).toEqual(["stripe_key", "github_token"]);
    const lease = await broker.secretsForTool("charge_card");
    expect(lease.get("stripe_key")).toBe(STRIPE);
    expect(lease.hostsFor("stripe_key")).toEqual(["api.stripe.com"]);
    const other = await broker.secretsForTool("open_pr");
    expect(() => other.get("stripe_key")).toThrow(/secret `stripe_key` is not bound to tool `open_pr`/);
    const none = await broker.secretsForTool("send_email");
    expect(none.handles).toEqual([]);
    expect(() => none.get("stripe_key")).toThrow(SecretError);
  });

  it("never shows values when a lease is logged or serialised", async () => {
    const lease = await createSecretBroker({ config: config(), env }).secretsForTool("charge_card");
    for (const shown of [JSON.stringify(lease), inspect(lease), String(Object.keys(lease)), JSON.stringify({ lease })]) {
      expect(shown).not.toContain(STRIPE);
      expect(shown).not.toContain(GITHUB);
    }
    expect(JSON.parse(JSON.stringify(lease))).toEqual({ tool: "charge_card", handles: ["stripe_key", "github_token"] });
  });

  it("teaches the scrubber each value before handing it out", async () => {
    const broker = createSecretBroker({ config: config(), env });
    expect(broker.scrubber.scrubText(`key ${STRIPE}`)).not.toContain(secretHandle("stripe_key"));
    await broker.secretsForTool("charge_card");
    // base64 of a value ends in a partial character and padding that encode at most 4 of its bits.
    expect(broker.scrubber.scrubText(`key ${STRIPE} and ${Buffer.from(GITHUB).toString("base64")}`)).toBe(
      `key ${secretHandle("stripe_key")} and ${secretHandle("github_token")}w==`,
    );
  });

  it("learns every declared value at startup through check(), and reports without values", async () => {
    const broker = createSecretBroker({ config: config(), env: { STRIPE_KEY: STRIPE } });
    const statuses = await broker.check();
    expect(statuses.map((s) => [s.handle, s.ok, s.code])).toEqual([
      ["stripe_key", true, undefined],
      ["github_token", false, "secret-missing"],
      ["signing.key", true, undefined],
    ]);
    expect(JSON.stringify(statuses)).not.toContain(STRIPE);
    expect(broker.scrubber.scrubText(STRIPE)).toBe(secretHandle("stripe_key"));
  });

  it.each<[string, Record<string, string | undefined>, string, RegExp]>([
    ["one of two secrets is missing", { STRIPE_KEY: STRIPE }, "secret-missing", /secret `github_token`: environment variable `GITHUB_TOKEN` is not set/],
    ["a secret is too short to scrub", { STRIPE_KEY: "abc", GITHUB_TOKEN: GITHUB }, "secret-too-short", /secret `stripe_key`/],
  ])("denies the whole tool when %s (no partial lease)", async (_name, vars, code, message) => {
    const broker = createSecretBroker({ config: config(), env: vars });
    const error = await broker.secretsForTool("charge_card").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SecretError);
    expect((error as SecretError).code).toBe(code);
    expect((error as SecretError).message).toMatch(message);
  });

  it("denies a tool whose secret file has loose permissions", async () => {
    const path = join(dir, "loose");
    await writeFile(path, "db-password-123");
    await chmod(path, 0o644);
    const broker = createSecretBroker({
      config: parseSecretsConfig({ handles: { db_password: { from: { file: path }, tools: ["run_sql"] } } }),
      env: {},
    });
    await expect(broker.secretsForTool("run_sql")).rejects.toThrow(/secret `db_password`: file `.*loose` has mode 0644/);
  });

  it("resolves fresh on every call: a rotated value is used and both stay scrubbed", async () => {
    const vars: Record<string, string | undefined> = { STRIPE_KEY: STRIPE, GITHUB_TOKEN: GITHUB };
    const broker = createSecretBroker({ config: config(), env: vars });
    await broker.secretsForTool("charge_card");
    vars.STRIPE_KEY = "sk_test_rotated_value_0001";
    expect((await broker.secretsForTool("charge_card")).get("stripe_key")).toBe("sk_test_rotated_value_0001");
    expect(broker.scrubber.scrubText(`${STRIPE} ${vars.STRIPE_KEY}`)).toBe(`${secretHandle("stripe_key")} ${secretHandle("stripe_key")}`);
    vars.STRIPE_KEY = undefined;
    await expect(broker.secretsForTool("charge_card")).rejects.toThrow(/is not set/);
  });

  it("mints a scoped token that expires within its TTL and verifies against the public JWKS", async () => {
    const now = new Date();
    const broker = createSecretBroker({ config: config(), env, clock: () => now });
    const lease = await broker.secretsForTool("list_invoices", { agent: "support", run: "run-1" });
    const token = lease.get("billing_api");
    const jwks = createLocalJWKSet(await broker.publicJwks());
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: "gatehouse-test",
      audience: "https://billing.internal",
      currentDate: now,
    });
    expect(protectedHeader).toMatchObject({ alg: "ES256", kid: "k1", typ: "JWT" });
    expect(payload).toMatchObject({ sub: "support", scope: "invoices:read invoices:list", tool: "list_invoices", run: "run-1" });
    expect(payload.exp! - payload.iat!).toBe(300);
    expect(typeof payload.jti).toBe("string");
    expect(broker.scrubber.scrubText(`Bearer ${token}`)).toBe(`Bearer ${secretHandle("billing_api")}`);
    const second = (await broker.secretsForTool("list_invoices", { agent: "support" })).get("billing_api");
    expect(decodeJwt(second).jti).not.toBe(payload.jti);
  });

  it("stops scrubbing a minted token (as a known value) once it is long expired", async () => {
    let now = new Date("2026-11-22T08:00:00Z");
    const broker = createSecretBroker({ config: config({ scrub: { disableRules: ["jwt"] } }), env, clock: () => now });
    const token = (await broker.secretsForTool("list_invoices")).get("billing_api");
    expect(broker.scrubber.scrubText(token)).toBe(secretHandle("billing_api"));
    now = new Date(now.getTime() + 31 * 60 * 1000);
    await broker.secretsForTool("open_pr");
    expect(broker.scrubber.scrubText(token)).toBe(token);
  });

  it("denies a token tool when the signing key cannot be had", async () => {
    const broker = createSecretBroker({
      config: config({ signing: { from: { file: join(dir, "absent.pem") }, alg: "ES256", issuer: "i" } }),
      env,
    });
    const error = (await broker.secretsForTool("list_invoices").catch((e: unknown) => e)) as SecretError;
    expect(error.code).toBe("secret-missing");
    expect(error.message).toMatch(/^token `billing_api`: secret `signing.key`: file `.*absent.pem` does not exist/);
  });

  it.each<[string, SecretsConfig["signing"], Record<string, string>, RegExp]>([
    ["an HS256 key under 32 bytes", { from: { env: "K" }, alg: "HS256", issuer: "i" }, { K: "short-key-1234" }, /shorter than 32 bytes/],
    ["an EC key used for EdDSA", { from: { env: "K" }, alg: "EdDSA", issuer: "i" }, {}, /not Ed25519/],
    ["text that is not a key", { from: { env: "K" }, alg: "RS256", issuer: "i" }, { K: "this is not a key at all" }, /not a PKCS#8 PEM or private JWK/],
  ])("refuses to mint with %s", async (_name, signing, vars, message) => {
    const pem = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
    const broker = createSecretBroker({ config: config({ signing }), env: { K: pem, ...vars } });
    const error = (await broker.secretsForTool("list_invoices").catch((e: unknown) => e)) as SecretError;
    expect(error.code).toBe("token-mint-failed");
    expect(error.message).toMatch(message);
  });
});

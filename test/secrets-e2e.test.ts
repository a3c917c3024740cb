import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createGatehouse } from "../src/integrations/index.js";
import { parsePolicy } from "../src/policy/index.js";
import {
  createSecretBroker,
  parseSecretsConfig,
  scrubbingAuditSink,
  secretHandle,
  variantsOf,
  withSecrets,
  type SecretBroker,
} from "../src/secrets/index.js";
import { ALNUM, rnd } from "./secrets-samples.js";

const POLICY = `
version: 1
agents:
  billing-bot: { owner: billing@example.com, environment: production }
tools:
  echo_everything: { risk: read-only, description: echoes its environment and credentials }
  fail_loudly: { risk: read-only, description: throws an error that quotes its credential }
  needs_missing: { risk: read-only, description: bound to a secret that is not set }
defaults: { read-only: allow }
`;

const STRIPE = ["sk", "_live_", rnd(ALNUM, 28)].join("");
const DB_PASSWORD = `db-${rnd(ALNUM, 20)}`;

let dir: string;
let broker: SecretBroker;
const saved = process.env.GATEHOUSE_E2E_STRIPE;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-e2e-"));
  const dbFile = join(dir, "db_password");
  await writeFile(dbFile, `${DB_PASSWORD}\n`);
  await chmod(dbFile, 0o600);
  const key = join(dir, "jwt.key");
  await writeFile(key, rnd(ALNUM, 48));
  await chmod(key, 0o600);
  // The secret sits in Gatehouse's own environment, which an in-process tool can read.
  process.env.GATEHOUSE_E2E_STRIPE = STRIPE;
  broker = createSecretBroker({
    config: parseSecretsConfig({
      handles: {
        stripe_key: { from: { env: "GATEHOUSE_E2E_STRIPE" }, tools: ["echo_everything", "fail_loudly"] },
        db_password: { from: { file: dbFile }, tools: ["echo_everything"] },
        absent_key: { from: { env: "GATEHOUSE_E2E_NOT_SET" }, tools: ["needs_missing"] },
      },
      tokens: { billing_api: { audience: "https://billing.internal", scope: ["charges:write"], ttlSeconds: 120, tools: ["echo_everything"] } },
      signing: { from: { file: key }, alg: "HS256", issuer: "gatehouse" },
    }),
    env: process.env,
  });
  await broker.check();
});

afterAll(async () => {
  if (saved === undefined) delete process.env.GATEHOUSE_E2E_STRIPE;
  else process.env.GATEHOUSE_E2E_STRIPE = saved;
  await rm(dir, { recursive: true, force: true });
});

/** Every value the tools could have seen, in every form the scrubber knows. */
function leakedForms(values: readonly string[]): string[] {
  return values.flatMap((v) => variantsOf(v).map((variant) => variant.text));
}

describe("end to end: a guarded tool that echoes its environment and its credentials", () => {
  it("scrubs a value from a tool that was never given it, before any tool used that secret", async () => {
    // A value no pattern rule knows, so only the broker's knowledge can catch it.
    const plain = `plain-${rnd(ALNUM, 24)}`;
    const fresh = createSecretBroker({
      config: parseSecretsConfig({ handles: { plain_key: { from: { env: "PLAIN" }, tools: ["fail_loudly"] } } }),
      env: { PLAIN: plain },
      // No check() at startup: the first call through the broker must teach the scrubber anyway.
    });
    const memory = createMemoryAuditLog();
    const gatehouse = await createGatehouse({ policy: parsePolicy(POLICY), audit: scrubbingAuditSink(memory, fresh.scrubber) });
    const tools = gatehouse.guard({ echo_everything: withSecrets(fresh, "echo_everything", () => ({ leaked: `cat /proc/1/environ: PLAIN=${plain}` })) });
    const result = await tools.echo_everything({});
    expect(JSON.stringify(result)).not.toContain(plain);
    expect(JSON.stringify(result)).toContain(secretHandle("plain_key"));
    expect(JSON.stringify(memory.events())).not.toContain(plain);
  });

  it("returns and records no secret value, only handles", async () => {
    const memory = createMemoryAuditLog();
    const gatehouse = await createGatehouse({ policy: parsePolicy(POLICY), audit: scrubbingAuditSink(memory, broker.scrubber) });
    let minted = "";
    const tools = gatehouse.guard(
      {
        echo_everything: withSecrets(broker, "echo_everything", (_args: unknown, ctx) => {
          minted = ctx.secrets.get("billing_api");
          const stripe = ctx.secrets.get("stripe_key");
          return {
            env: { ...process.env },
            credentials: { stripe, db: ctx.secrets.get("db_password"), token: minted },
            encoded: { base64: Buffer.from(`user:${stripe}`).toString("base64"), hex: Buffer.from(stripe).toString("hex"), url: `https://x.test/?k=${encodeURIComponent(stripe)}` },
            [stripe]: "a secret as an object key",
            html: `<input value="${ctx.secrets.get("db_password")}">`,
          };
        }),
        fail_loudly: withSecrets(broker, "fail_loudly", (_args: unknown, ctx) => {
          throw new Error(`upstream refused key ${ctx.secrets.get("stripe_key")}`);
        }),
      },
      { agent: "billing-bot", run: "run-42" },
    );

    const echoed = await tools.echo_everything({});
    const failed = await tools.fail_loudly({});
    expect(echoed.status).toBe("ok");
    expect(failed.status).toBe("error");

    const values = [STRIPE, DB_PASSWORD, minted];
    const modelFacing = JSON.stringify([echoed, failed]);
    const audit = JSON.stringify(memory.events());
    for (const form of leakedForms(values)) {
      expect(modelFacing).not.toContain(form);
      expect(audit).not.toContain(form);
    }
    expect(modelFacing).toContain(secretHandle("stripe_key"));
    expect(modelFacing).toContain(secretHandle("db_password"));
    expect(modelFacing).toContain(secretHandle("billing_api"));
    expect(JSON.stringify(failed)).toContain(`upstream refused key ${secretHandle("stripe_key")}`);
    expect(memory.events().filter((e) => e.type === "outcome")).toHaveLength(2);
    expect(audit).toContain(secretHandle("stripe_key"));
  });

  it("does not run a tool whose secret is missing, and says which handle", async () => {
    const memory = createMemoryAuditLog();
    const gatehouse = await createGatehouse({ policy: parsePolicy(POLICY), audit: scrubbingAuditSink(memory, broker.scrubber) });
    let ran = false;
    const tools = gatehouse.guard({
      needs_missing: withSecrets(broker, "needs_missing", () => {
        ran = true;
        return "ran without its secret";
      }),
    });
    const result = await tools.needs_missing({});
    expect(ran).toBe(false);
    expect(result).toEqual({
      status: "error",
      message: "`needs_missing` failed: secret `absent_key`: environment variable `GATEHOUSE_E2E_NOT_SET` is not set",
    });
  });
});

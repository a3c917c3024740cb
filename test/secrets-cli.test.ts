import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/program.js";

const VALUE = "cli-check-secret-value-123";
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "gatehouse-cli-secrets-"));
  process.env.GATEHOUSE_CLI_TEST_KEY = VALUE;
});
afterAll(async () => {
  delete process.env.GATEHOUSE_CLI_TEST_KEY;
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => (out += `${t}\n`), err: (t) => (err += `${t}\n`) });
  return { code, out, err };
}

async function policy(name: string, secrets: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `version: 1\nsecrets:\n${secrets}`);
  return path;
}

describe("gatehouse secrets check", () => {
  it("exits 0 when every secret resolves and never prints a value", async () => {
    const file = join(dir, "db");
    await writeFile(file, "db-password-value-9");
    await chmod(file, 0o600);
    const path = await policy(
      "ok.yaml",
      `  handles:\n    api_key: { from: { env: GATEHOUSE_CLI_TEST_KEY }, tools: [call_api] }\n    db_password: { from: { file: ${file} }, tools: [run_sql] }\n`,
    );
    const { code, out } = await run(["secrets", "check", path]);
    expect(code).toBe(0);
    expect(out).toContain("ok      api_key (secret, environment variable `GATEHOUSE_CLI_TEST_KEY`)");
    expect(out).toContain("2 of 2 resolve");
    expect(out).not.toContain(VALUE);
    expect(out).not.toContain("db-password-value-9");
  });

  it("exits 1 and names the missing handle and what to do", async () => {
    const path = await policy(
      "missing.yaml",
      "  handles:\n    api_key: { from: { env: GATEHOUSE_CLI_TEST_KEY }, tools: [a] }\n    gone: { from: { env: GATEHOUSE_CLI_NOT_SET }, tools: [a] }\n",
    );
    const { code, out } = await run(["secrets", "check", path, "--json"]);
    expect(code).toBe(1);
    const report = JSON.parse(out) as { ok: boolean; secrets: { handle: string; ok: boolean; code?: string; help?: string }[] };
    expect(report.ok).toBe(false);
    expect(report.secrets.find((s) => s.handle === "gone")).toMatchObject({
      ok: false,
      code: "secret-missing",
      help: "export GATEHOUSE_CLI_NOT_SET in the environment Gatehouse starts with",
    });
    expect(out).not.toContain(VALUE);
  });

  it("exits 1 with file:line:col for an invalid secrets section", async () => {
    const path = await policy("bad.yaml", "  handles:\n    api_key: { from: { env: A }, tools: [a], colour: red }\n");
    const { code, err } = await run(["secrets", "check", path]);
    expect(code).toBe(1);
    expect(err).toContain(`${path}:4:46: secrets.handles.api_key: Unrecognized key: "colour"`);
  });

  it("exits 2 on a usage error", async () => {
    expect((await run(["secrets", "check"])).code).toBe(2);
  });
});

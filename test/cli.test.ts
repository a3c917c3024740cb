import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { runCli } from "../src/cli/program.js";

const root = join(import.meta.dirname, "..");
const support = join(root, "examples/support-agent.yaml");

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, { out: (t) => (stdout += t.endsWith("\n") ? t : `${t}\n`), err: (t) => (stderr += t.endsWith("\n") ? t : `${t}\n`) });
  return { code, stdout, stderr };
}

describe("gatehouse policy check", () => {
  it("exits 0 and summarises a valid policy", async () => {
    const { code, stdout, stderr } = await cli("policy", "check", support);
    expect(code).toBe(0);
    expect(stdout).toMatch(/support-agent\.yaml: ok \(1 agent\(s\), 6 tool\(s\), 6 rule\(s\); digest [0-9a-f]{12}\)/);
    expect(stderr).toBe("");
  });

  it("exits 1 with file:line:col problems on stderr", async () => {
    const file = join(root, "test/fixtures/policies/bad/bad-risk.yaml");
    const { code, stdout, stderr } = await cli("policy", "check", file);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(`${file}:8:11: tools.get_order.risk: expected one of \`read-only\`, \`low-risk-write\`, \`high-risk-write\`\n  help: did you mean \`read-only\`?\n`);
  });

  it("exits 1 when the file does not exist", async () => {
    const { code, stderr } = await cli("policy", "check", "/nonexistent.yaml");
    expect(code).toBe(1);
    expect(stderr).toContain("/nonexistent.yaml: cannot read policy: no such file");
  });

  it("prints warnings for tools without an argument schema", async () => {
    const { writeFileSync, mkdtempSync } = await import("node:fs");
    const dir = mkdtempSync(join((await import("node:os")).tmpdir(), "gh-cli-"));
    const file = join(dir, "p.yaml");
    writeFileSync(file, "version: 1\nagents:\n  a: { owner: o, environment: production }\ntools:\n  t: { risk: read-only }\n");
    const { code, stderr } = await cli("policy", "check", file);
    expect(code).toBe(0);
    expect(stderr).toBe(`${file}:5:6: warning: tools.t: no \`args\` schema: any arguments pass\n  help: narrow the tool with an \`args\` schema\n`);
  });
});

describe("gatehouse explain", () => {
  it("prints one JSON object with the decision, the rules and the reasons", async () => {
    const { code, stdout } = await cli("explain", "--policy", support, "--tool", "send_email", "--args", JSON.stringify({ to: ["a@evil.test"], subject: "s", body: "b" }), "--json");
    expect(code).toBe(0);
    const parsed = JSON.parse(stdout);
    expect(parsed).toMatchObject({
      decision: "ask",
      rules: ["email-outside-company"],
      reasons: ["emails to several or outside recipients need an approver"],
      code: "asked-by-rule",
      approvers: 1,
    });
    expect(stdout.trim().split("\n")).toHaveLength(1);
  });

  it("explains in text which rules it looked at", async () => {
    const { stdout } = await cli("explain", "--policy", support, "--tool", "run_sql", "--args", '{"sql":"DROP TABLE orders"}');
    expect(stdout).toContain("decision: dry-run");
    expect(stdout).toContain("sql-preview-first: matched");
  });

  it("decides as if in another environment with --env", async () => {
    const { stdout } = await cli("explain", "--policy", support, "--tool", "get_order", "--args", '{"order_id":"ord_1"}', "--env", "development", "--json");
    expect(JSON.parse(stdout)).toMatchObject({ decision: "allow", environment: "development" });
  });

  it.each([
    [["explain", "--policy", support, "--tool", "x", "--args", "{not json"], "--args"],
    [["explain", "--policy", support, "--tool", "x", "--args", "[1]"], "must be a JSON object"],
    [["explain", "--policy", support, "--tool", "x", "--env", "prod"], "prod"],
    [["explain", "--tool", "x"], "--policy"],
    [["explain", "--policy", support, "--tool", "x", "--bogus"], "--bogus"],
    [["frobnicate"], "frobnicate"],
  ])("exits 2 on bad flags: %j", async (argv, mentions) => {
    const { code, stderr } = await cli(...argv);
    expect(code).toBe(2);
    expect(stderr).toContain(mentions);
  });
});

describe("gatehouse policy schema", () => {
  it("prints a JSON Schema that describes the policy file", async () => {
    const { code, stdout } = await cli("policy", "schema");
    expect(code).toBe(0);
    const schema = JSON.parse(stdout);
    expect(schema.$schema).toBe("https://json-schema.org/draft/2020-12/schema");
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(["version", "description", "agents", "tools", "rules", "defaults"]));
    expect(schema.additionalProperties).toBe(false);
  });
});

describe("gatehouse demo", () => {
  it("shows the injection held, previewed, denied and the audit trail, and changes nothing", async () => {
    const { code, stdout } = await cli("demo", "--no-color");
    expect(code).toBe(0);
    expect(stdout).toContain("HELD     `send_email` needs approval from 2 approver(s)");
    expect(stdout).toContain("preview: table orders (1200 rows) → dropped; rolled back");
    expect(stdout).toContain("DENIED   Gatehouse denied `read_file`");
    expect(stdout).toContain("DENIED   Gatehouse denied `export_customers`");
    expect(stdout).toContain("The orders table still holds 1200 rows");
    expect(stdout).toContain("Audit trail");
    expect(stdout).toMatch(/: (\d+) records, a signed checkpoint covers \1; verify: ok/);
    expect(stdout).toMatch(/rewrites record \d+ \(the held send_email\) to say "allow"; verify: FAILED/);
    expect(stdout).toContain("record-changed");
    expect(stdout).not.toContain("\u001b[");
  });
});

describe("the built gatehouse bin", () => {
  const bin = join(root, "dist/cli/main.js");

  it("runs as a real process and sets its exit code", async () => {
    const run = promisify(execFile);
    const ok = await run(process.execPath, [bin, "policy", "check", support]);
    expect(ok.stdout).toContain("ok (");
    const failed = await run(process.execPath, [bin, "policy", "check", join(root, "test/fixtures/policies/bad/empty.yaml")]).catch((e: { code: number; stderr: string }) => e);
    expect(failed).toMatchObject({ code: 1 });
    const help = await run(process.execPath, [bin, "--help"]);
    expect(help.stdout).toContain("explain");
  });
});

describe("the published schema file", () => {
  it("is what `gatehouse policy schema` prints (regenerate with: node dist/cli/main.js policy schema > schema/policy-v1.json)", async () => {
    const { readFileSync } = await import("node:fs");
    const { stdout } = await cli("policy", "schema");
    expect(JSON.parse(readFileSync(join(root, "schema/policy-v1.json"), "utf8"))).toEqual(JSON.parse(stdout));
  });
});

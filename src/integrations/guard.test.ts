import { describe, expect, it } from "vitest";
import type { AuditSink } from "../core/index.js";
import { createMemoryAuditLog } from "../audit/index.js";
import { parsePolicy } from "../policy/index.js";
import { createGatehouse } from "./guard.js";

const policy = parsePolicy(`
version: 1
agents:
  bot: { owner: o, environment: production }
tools:
  read_file:
    risk: read-only
    args: { type: object, required: [path], properties: { path: { type: string, pathPrefix: /srv/data } } }
  send_email:
    risk: high-risk-write
    args: { type: object, properties: { to: { type: string } } }
  run_sql:
    risk: high-risk-write
    args: { type: object, properties: { sql: { type: string } } }
  flaky:
    risk: read-only
rules:
  - id: sql-preview
    when: tool == "run_sql"
    decision: dry-run
`);

function tracked() {
  const calls: string[] = [];
  return {
    calls,
    tools: {
      read_file: (args: { path: string }) => (calls.push(`read ${args.path}`), `contents of ${args.path}`),
      send_email: () => (calls.push("email"), "sent"),
      run_sql: {
        run: () => (calls.push("sql ran"), "done"),
        dryRun: (args: { sql: string }) => (calls.push("sql previewed"), { wouldRun: args.sql }),
      },
      flaky: () => {
        calls.push("flaky");
        throw new Error("connection reset");
      },
      not_in_policy: () => (calls.push("unlisted"), "oops"),
    },
  };
}

describe("guard", () => {
  it("runs an allowed call with the normalised arguments and returns its value", async () => {
    const { calls, tools } = tracked();
    const guarded = (await createGatehouse({ policy })).guard(tools);
    expect(await guarded.read_file({ path: "/srv/data/./a//b" })).toEqual({ status: "ok", value: "contents of /srv/data/a/b" });
    expect(calls).toEqual(["read /srv/data/a/b"]);
  });

  it("never runs a denied call and returns a refusal the agent can read", async () => {
    const { calls, tools } = tracked();
    const guarded = (await createGatehouse({ policy })).guard(tools);
    const result = await guarded.read_file({ path: "/srv/data/../../etc/passwd" });
    expect(result).toEqual({
      status: "denied",
      code: "args-invalid",
      message: "Gatehouse denied `read_file`: args.path: must be within `/srv/data`",
      rules: [],
    });
    expect(await guarded.not_in_policy({})).toMatchObject({ status: "denied", code: "tool-not-listed" });
    expect(calls).toEqual([]);
  });

  it("holds a call that needs approval and does not run it", async () => {
    const { calls, tools } = tracked();
    const guarded = (await createGatehouse({ policy })).guard(tools);
    const result = await guarded.send_email({ to: "a@example.com" });
    expect(result).toMatchObject({ status: "pending", code: "asked-by-default", approvers: 1 });
    expect(result.status === "pending" && result.actionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(calls).toEqual([]);
  });

  it("runs the preview, not the tool, on a dry-run", async () => {
    const { calls, tools } = tracked();
    const audit = createMemoryAuditLog();
    const guarded = (await createGatehouse({ policy, audit })).guard(tools);
    expect(await guarded.run_sql({ sql: "DELETE FROM t" })).toMatchObject({ status: "dry-run", preview: { wouldRun: "DELETE FROM t" } });
    expect(calls).toEqual(["sql previewed"]);
    expect(audit.events().map((e) => e.outcome?.status ?? e.decision?.verdict)).toEqual(["dry-run", "dry-run"]);
  });

  it("does not run a tool without a preview on a dry-run", async () => {
    const calls: string[] = [];
    const guarded = (await createGatehouse({ policy })).guard({ run_sql: () => (calls.push("ran"), 1) });
    const result = await guarded.run_sql({ sql: "x" });
    expect(result.status).toBe("dry-run");
    expect(result.status === "dry-run" && result.message).toContain("has no preview");
    expect(calls).toEqual([]);
  });

  it("turns a tool's exception into an error result without a stack trace, and records it", async () => {
    const { tools } = tracked();
    const audit = createMemoryAuditLog();
    const guarded = (await createGatehouse({ policy, audit })).guard(tools);
    const result = await guarded.flaky({});
    expect(result).toEqual({ status: "error", message: "`flaky` failed: connection reset" });
    expect(audit.events()[1]?.outcome).toMatchObject({ status: "error", error: "connection reset" });
  });

  it("withholds a result that the audit log could not record", async () => {
    let appends = 0;
    const audit: AuditSink = {
      append: () => (++appends === 1 ? Promise.resolve() : Promise.reject(new Error("disk full"))),
    };
    const { calls, tools } = tracked();
    const guarded = (await createGatehouse({ policy, audit })).guard(tools);
    const result = await guarded.read_file({ path: "/srv/data/x" });
    expect(result).toEqual({ status: "error", message: "the result of `read_file` was withheld: the audit log could not record it" });
    expect(calls).toEqual(["read /srv/data/x"]);
  });

  it("records who acted on every event", async () => {
    const audit = createMemoryAuditLog();
    const { tools } = tracked();
    const guarded = (await createGatehouse({ policy, audit })).guard(tools, { run: "run-7", principal: "alice" });
    await guarded.read_file({ path: "/srv/data/x" });
    for (const event of audit.events()) expect(event).toMatchObject({ agent: "bot", run: "run-7", principal: "alice" });
  });

  it("refuses to start from a policy file that does not load", async () => {
    await expect(createGatehouse({ policy: "/nonexistent/gatehouse.yaml" })).rejects.toThrow(/cannot read policy: no such file/);
  });
});

describe("guard with secrets", () => {
  const secretPolicy = parsePolicy(`
version: 1
agents:
  bot: { owner: o, environment: production }
tools:
  charge: { risk: read-only, args: { type: object } }
  needs_missing: { risk: read-only, args: { type: object } }
  plain: { risk: read-only, args: { type: object } }
secrets:
  handles:
    stripe_key: { from: { env: STRIPE_KEY }, tools: [charge] }
    absent_key: { from: { env: NOT_SET }, tools: [needs_missing] }
`);
  const value = "sk_live_51HxQpL2eZvKYlo2C0ffee7aB9cD3eF5gH7iJ";

  async function withBroker() {
    const { createSecretBroker } = await import("../secrets/index.js");
    const broker = createSecretBroker({ config: secretPolicy.file.secrets!, env: { STRIPE_KEY: value } });
    const audit = createMemoryAuditLog();
    return { audit, gatehouse: await createGatehouse({ policy: secretPolicy, audit, secrets: broker }) };
  }

  it("hands the tool its secret and scrubs it from the result, errors and the audit log", async () => {
    const { audit, gatehouse } = await withBroker();
    const seen: string[] = [];
    const tools = gatehouse.guard({
      charge: (_args, context) => {
        const key = context.secrets!.get("stripe_key");
        seen.push(key);
        return { echoed: key, header: `Bearer ${key}`, b64: Buffer.from(key).toString("base64") };
      },
      plain: () => {
        throw new Error(`upstream said: invalid key ${value}`);
      },
    });
    const result = await tools.charge({});
    expect(seen).toEqual([value]);
    expect(JSON.stringify(result)).not.toContain(value);
    expect(JSON.stringify(result)).toContain("{{secret:stripe_key}}");
    const failed = await tools.plain({});
    expect(failed.status).toBe("error");
    expect(JSON.stringify(failed)).not.toContain(value);
    const trail = JSON.stringify(audit.events());
    expect(trail).not.toContain(value);
    expect(trail).not.toContain(Buffer.from(value).toString("base64"));
  });

  it("denies a tool whose secret cannot be had, naming the handle, and does not run it", async () => {
    const { audit, gatehouse } = await withBroker();
    let ran = false;
    const result = await gatehouse.guard({ needs_missing: () => (ran = true) }).needs_missing({});
    expect(ran).toBe(false);
    expect(result).toMatchObject({ status: "denied", code: "secret-unavailable" });
    expect(result.status === "denied" && result.message).toContain("absent_key");
    expect(audit.events().at(-1)?.outcome?.status).toBe("error");
  });

  it("scrubs vendor-shaped secrets it was never told about, even without a broker", async () => {
    const audit = createMemoryAuditLog();
    const leaked = `ghp_${"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"}`;
    const result = await (await createGatehouse({ policy, audit })).guard({ flaky: () => `token=${leaked}` }).flaky({});
    expect(JSON.stringify(result)).not.toContain(leaked);
    expect(JSON.stringify(audit.events())).not.toContain(leaked);
  });
});

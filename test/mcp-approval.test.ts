import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { approvalsFromConfig, tokenDigest } from "../src/approvals/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { createControlServer, type ControlServer } from "../src/server/index.js";
import { openSqliteApprovalStore } from "../src/store/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { filesystemServer, startHarness, startHttpHarness, tempDir, textOf, writeFile, type Harness } from "./mcp-helpers.js";

const TOKEN = "alice-token-for-tests-0123456789abcdef";

describe("an MCP call that needs approval, answered from the CLI", () => {
  let allowed: string;
  let h: Harness;
  let control: ControlServer;
  let elicit: Harness;
  let policyText: string;
  let audit: ReturnType<typeof createMemoryAuditLog>;
  let approvals: ReturnType<typeof approvalsFromConfig>["approvals"];

  beforeAll(async () => {
    allowed = tempDir("gh-mcp-approval-");
    mkdirSync(join(allowed, "in"));
    writeFile(join(allowed, "in", "report.txt"), "quarterly\n");
    policyText = `version: 1
agents: { dev: { owner: dev@example.com, environment: development } }
approvers:
  alice: { roles: [approver], tokenSha256: ${tokenDigest(TOKEN)} }
tools:
  move_file:
    risk: high-risk-write
    args:
      type: object
      required: [source, destination]
      properties:
        source: { type: string, pathPrefix: ${allowed} }
        destination: { type: string, pathPrefix: ${allowed} }
`;
    const policy = parsePolicy(policyText, "approval.yaml");
    audit = createMemoryAuditLog();
    const store = openSqliteApprovalStore(join(tempDir("gh-mcp-approvals-db-"), "approvals.db"));
    const setup = approvalsFromConfig({ approvers: policy.file.approvers, approvals: policy.file.approvals, store, audit });
    approvals = setup.approvals;
    const directory = setup.directory;
    h = await startHarness(policyText, [filesystemServer("fs", allowed)], { checks: [approvals.check], audit, approvals });
    control = await createControlServer({ approvals, approvers: directory, port: 0 });
    elicit = await startHarness(policyText, [filesystemServer("fs", allowed)], {
      checks: [approvals.check],
      audit,
      approvals,
      elicitationApprover: "alice",
      clientCapabilities: { elicitation: {} },
    });
  });
  afterAll(async () => {
    await elicit.close();
    await control.close();
    await h.close();
  });

  it("tells the agent the call awaits approval with the request id, and the retry runs once approved", async () => {
    const args = { source: join(allowed, "in", "report.txt"), destination: join(allowed, "report.txt") };
    const pending = await h.client.callTool({ name: "move_file", arguments: args });
    expect(pending.isError).toBe(true);
    expect(textOf(pending)).toMatch(/awaits approval \(request /);
    const id = (pending._meta?.["dev.gatehouse/decision"] as { approval: { id: string } }).approval.id;
    expect(textOf(pending)).toContain(id);
    expect(existsSync(args.destination)).toBe(false);

    // The same call again before anyone answers: still pending, the same request.
    expect(textOf(await h.client.callTool({ name: "move_file", arguments: args }))).toContain(id);

    let out = "";
    let err = "";
    const code = await runCli(["approvals", "approve", id, "--url", control.url, "--token", TOKEN], {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
    });
    expect({ code, err }).toEqual({ code: 0, err: "" });
    expect(out).toContain(id);

    const retried = await h.client.callTool({ name: "move_file", arguments: args });
    expect(retried.isError).toBeFalsy();
    expect(existsSync(args.destination)).toBe(true);
    expect(existsSync(args.source)).toBe(false);

    // Single use: a third identical call asks again.
    const third = await h.client.callTool({ name: "move_file", arguments: args });
    expect(third.isError).toBe(true);
  });

  it.each([
    ["accept", true, "runs the call"],
    ["decline", false, "denies it"],
  ] as const)("asks the person at the client by elicitation when it can: %s %s", async (action, approve, _what) => {
    const name = `${action}.txt`;
    writeFile(join(allowed, "in", name), "x\n");
    const asked: string[] = [];
    elicit.client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return action === "accept" ? { action: "accept", content: { approve } } : { action: "decline" };
    });
    const result = await elicit.client.callTool({ name: "move_file", arguments: { source: join(allowed, "in", name), destination: join(allowed, name) } });
    expect(asked).toHaveLength(1);
    expect(asked[0]).toContain("move_file");
    expect(existsSync(join(allowed, name))).toBe(approve);
    expect(result.isError ?? false).toBe(!approve);
  });

  it.each([
    ["accept", true],
    ["decline", false],
  ] as const)("asks a 2026-07-28 client with an `input_required` result and takes the answer from its retry: %s", async (action, approve) => {
    const name = `modern-${action}.txt`;
    writeFile(join(allowed, "in", name), "x\n");
    const http = await startHttpHarness(policyText, [filesystemServer("fs", allowed)], { checks: [approvals.check], audit, approvals, elicitationApprover: "alice" });
    const client = new Client({ name: "modern", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: { elicitation: {} } });
    const asked: string[] = [];
    client.setRequestHandler("elicitation/create", (request) => {
      asked.push(request.params.message);
      return action === "accept" ? { action: "accept", content: { approve } } : { action: "decline" };
    });
    await client.connect(new StreamableHTTPClientTransport(http.url));
    try {
      const result = await client.callTool({ name: "move_file", arguments: { source: join(allowed, "in", name), destination: join(allowed, name) } });
      expect(asked).toHaveLength(1);
      expect(asked[0]).toContain("move_file");
      expect(existsSync(join(allowed, name))).toBe(approve);
      expect(result.isError ?? false).toBe(!approve);
    } finally {
      await client.close();
      await http.close();
    }
  });
});

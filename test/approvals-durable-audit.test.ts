import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApprovals, createApproverDirectory } from "../src/approvals/index.js";
import { generateSigningKey, openAuditLog, verifyAuditLog } from "../src/audit/index.js";
import { createGatehouse } from "../src/integrations/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { openSqliteApprovalStore } from "../src/store/index.js";

/**
 * The approvals workflow on the durable, verifiable audit log (not the in-memory one): every
 * request and answer is appended as an `approval` event, and the log still verifies.
 */
const policy = parsePolicy(`
version: 1
agents:
  bot: { owner: o, environment: production }
tools:
  refund: { risk: high-risk-write, args: { type: object, properties: { cents: { type: integer } } } }
approvers:
  alice: { roles: [approver] }
`);

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("approvals on the durable audit log", () => {
  it("asks, records the answer, runs the approved retry once, and the log verifies", async () => {
    dir = mkdtempSync(join(tmpdir(), "gh-approvals-audit-"));
    const key = generateSigningKey("test.example/gatehouse/audit");
    const log = await openAuditLog({ path: join(dir, "audit.db"), signingKey: key });
    const store = openSqliteApprovalStore(join(dir, "approvals.db"));
    const approvals = createApprovals({ store, audit: log, approvers: createApproverDirectory(policy.file.approvers ?? {}) });
    const gatehouse = await createGatehouse({ policy, audit: log, approvals });
    let refunds = 0;
    const tools = gatehouse.guard({ refund: () => ++refunds }, { principal: "mallory" });

    const first = await tools.refund({ cents: 500 });
    expect(first.status).toBe("pending");
    const id = first.status === "pending" ? first.approvalId! : "";
    await approvals.answer(id, { approver: "alice", verdict: "approve", reason: "known customer" });
    expect(await tools.refund({ cents: 500 })).toEqual({ status: "ok", value: 1 });
    expect(await tools.refund({ cents: 500 })).toMatchObject({ status: "pending" });
    expect(refunds).toBe(1);

    await log.close();
    await store.close();
    const report = await verifyAuditLog({ path: join(dir, "audit.db"), verifierKey: key.verifier });
    expect(report.ok).toBe(true);
    expect(report.size).toBeGreaterThanOrEqual(6);
  });
});

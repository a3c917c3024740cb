import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApprovals, createApproverDirectory } from "../src/approvals/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { createGatehouse } from "../src/integrations/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { openSqliteApprovalStore } from "../src/store/index.js";

/**
 * An approval covers one exact call: the same agent, principal, environment, arguments, policy
 * and number of approvers. Attack: get a cheap approval somewhere, then spend it where a
 * stricter rule applies, or as someone else.
 */
const policy = parsePolicy(`
version: 1
agents:
  bot: { owner: o, environment: production }
tools:
  refund: { risk: high-risk-write, args: { type: object, properties: { cents: { type: integer } } } }
rules:
  - id: two-in-production
    when: tool == "refund" && environment == "production"
    decision: ask
    approvers: 2
  - id: one-elsewhere
    when: tool == "refund"
    decision: ask
    approvers: 1
approvers:
  alice: { roles: [approver] }
  bob: { roles: [approver] }
`);

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function setup() {
  dir = mkdtempSync(join(tmpdir(), "gh-approval-binding-"));
  const audit = createMemoryAuditLog();
  const approvals = createApprovals({ store: openSqliteApprovalStore(join(dir, "approvals.db")), audit, approvers: createApproverDirectory(policy.file.approvers ?? {}) });
  const gatehouse = await createGatehouse({ policy, audit, approvals });
  return { approvals, gatehouse };
}

describe("an approval is bound to the exact call", () => {
  it("when approved for staging with one approver, does not run the identical call in production", async () => {
    const { approvals, gatehouse } = await setup();
    const staging = await gatehouse.decide({ tool: "refund", args: { cents: 500 }, environment: "staging", principal: "mallory" });
    expect(staging).toMatchObject({ verdict: "ask", approvers: 1 });
    await approvals.answer(staging.approval!.id, { approver: "alice", verdict: "approve" });
    const production = await gatehouse.decide({ tool: "refund", args: { cents: 500 }, environment: "production", principal: "mallory" });
    expect(production).toMatchObject({ verdict: "ask", approvers: 2 });
    expect(production.approval!.id).not.toBe(staging.approval!.id);
    expect((await gatehouse.decide({ tool: "refund", args: { cents: 500 }, environment: "staging", principal: "mallory" })).verdict).toBe("allow");
  });

  it("when approved for one principal, does not run the identical call for another (no approving oneself by proxy)", async () => {
    const { approvals, gatehouse } = await setup();
    const bobs = await gatehouse.decide({ tool: "refund", args: { cents: 500 }, environment: "staging", principal: "bob" });
    await approvals.answer(bobs.approval!.id, { approver: "alice", verdict: "approve" });
    const alices = await gatehouse.decide({ tool: "refund", args: { cents: 500 }, environment: "staging", principal: "alice" });
    expect(alices.verdict).toBe("ask");
    expect(alices.approval!.id).not.toBe(bobs.approval!.id);
  });
});

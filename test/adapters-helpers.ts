import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApprovals, createApproverDirectory, type Approvals } from "../src/approvals/index.js";
import { createMemoryAuditLog, type MemoryAuditLog } from "../src/audit/index.js";
import { createGate, type Gate } from "../src/gate/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { openSqliteApprovalStore } from "../src/store/index.js";

/** A shop agent: reading orders is allowed, refunds need one approver, deleting is not listed. */
export const SHOP_POLICY = parsePolicy(`
version: 1
agents:
  shop: { owner: support@example.com, environment: production }
tools:
  get_order:
    risk: read-only
    args: { type: object, required: [order_id], properties: { order_id: { type: string, pattern: "^ord_[0-9]+$" } } }
  refund:
    risk: high-risk-write
    args: { type: object, required: [order_id, amount], properties: { order_id: { type: string }, amount: { type: number, maximum: 500 } } }
defaults: { read-only: allow, high-risk-write: ask }
`, "shop.yaml");

export interface Harness {
  readonly gate: Gate;
  readonly audit: MemoryAuditLog;
  readonly approvals: Approvals;
  /** Approves the one pending request as `alice`, the way `gatehouse approvals approve ID` does. */
  approvePending(): Promise<string>;
}

/** A real gate with the real approvals check (SQLite store in a temp dir) and an in-memory audit log. */
export function createHarness(): Harness {
  const audit = createMemoryAuditLog();
  const store = openSqliteApprovalStore(join(mkdtempSync(join(tmpdir(), "gh-adapters-")), "approvals.db"));
  const approvals = createApprovals({ store, audit, approvers: createApproverDirectory({ alice: { roles: ["approver"] } }) });
  const gate = createGate({ policy: SHOP_POLICY, audit, checks: [approvals.check] });
  return {
    gate,
    audit,
    approvals,
    async approvePending() {
      const pending = await approvals.list({ status: "pending" });
      if (pending.length !== 1) throw new Error(`expected one pending request, found ${pending.length}`);
      await approvals.answer(pending[0]!.id, { approver: "alice", verdict: "approve" });
      return pending[0]!.id;
    },
  };
}

/** The calls the audit log holds, as [tool, verdict or outcome status]. */
export function auditTrail(audit: MemoryAuditLog): [string, string][] {
  return audit
    .events()
    .filter((e) => e.type === "decision" || e.type === "outcome")
    .filter((e) => e.tool === "get_order" || e.tool === "refund" || e.tool === "delete_customer")
    .map((e) => [e.tool, e.type === "decision" ? `decision:${e.decision?.verdict}` : `outcome:${e.outcome?.status}`]);
}

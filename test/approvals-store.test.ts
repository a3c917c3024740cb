import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApprovalError, type ApprovalErrorCode } from "../src/approvals/index.js";
import type { Action } from "../src/core/index.js";
import { createMemoryAuditLog, type MemoryAuditLog } from "../src/audit/index.js";
import { openPostgresApprovalStore, StoreError, type ApprovalStore } from "../src/store/index.js";
import { makeHouse, postgresKind, sqliteKind, type House, type StoreKind } from "./approvals-helpers.js";

/**
 * One contract suite, run against every ApprovalStore implementation: real SQLite files and a
 * real PostgreSQL database created for this run. Every behaviour goes through the gate, as an
 * agent's call would.
 */
const kinds: Record<string, () => Promise<StoreKind>> = { sqlite: () => Promise.resolve(sqliteKind()), postgres: postgresKind };

const refund = (amount: number, extra: Partial<Action> = {}): Action => ({ agent: "bot", tool: "refund", args: { order: "ord_1", amount }, ...extra });

async function rejectsWith(promise: Promise<unknown>, code: ApprovalErrorCode): Promise<ApprovalError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ApprovalError);
  expect((error as ApprovalError).code).toBe(code);
  return error as ApprovalError;
}

describe("an unreachable PostgreSQL", () => {
  it("refuses to open with a StoreError that says what to check", async () => {
    const error = await openPostgresApprovalStore({ connectionString: "postgres://postgres@127.0.0.1:1/none" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).code).toBe("store-io");
    expect((error as StoreError).message).toContain("cannot reach PostgreSQL");
  });
});

describe.each(Object.keys(kinds))("approvals over %s", (name) => {
  let kind: StoreKind;
  beforeAll(async () => {
    kind = await kinds[name]!();
  });
  afterAll(async () => {
    await kind.cleanup();
  });

  async function house(): Promise<House & { reopen: () => Promise<ApprovalStore> }> {
    const { store, reopen } = await kind.fresh();
    return { ...makeHouse(store), reopen };
  }

  async function ask(h: House, action: Action): Promise<string> {
    const { decision } = await h.gate.decide(action);
    expect(decision.verdict).toBe("ask");
    expect(decision.approval).toBeDefined();
    return decision.approval!.id;
  }

  it("approve: the identical call runs once after approval, and the audit log has every step", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    expect(await ask(h, refund(20))).toBe(id); // a retry before the answer finds the same request
    const answered = await h.approvals.answer(id, { approver: "alice", verdict: "approve", reason: "customer called" });
    expect(answered).toMatchObject({ status: "approved", approvals: 1, required: 1, answers: [{ approver: "alice", verdict: "approve", reason: "customer called" }] });
    const { decision } = await h.gate.decide(refund(20));
    expect(decision).toMatchObject({ verdict: "allow", code: "allowed-by-approval", approval: { id } });
    expect((await h.approvals.get(id))?.status).toBe("used");
    const steps = h.audit.events().filter((e) => e.type === "approval").map((e) => [e.approval?.step, e.approval?.by]);
    expect(steps).toEqual([["requested", undefined], ["answered", "alice"], ["approved", undefined]]);
    expect(h.audit.events().filter((e) => e.type === "decision").map((e) => [e.decision?.code, e.approvals])).toEqual([
      ["asked-by-rule", [id]],
      ["asked-by-rule", [id]],
      ["allowed-by-approval", [id]],
    ]);
  });

  it("refuses the replay of a used approval: the next identical call opens a new request", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    await h.approvals.answer(id, { approver: "alice", verdict: "approve" });
    expect((await h.gate.decide(refund(20))).decision.verdict).toBe("allow");
    const again = await ask(h, refund(20));
    expect(again).not.toBe(id);
    await rejectsWith(h.approvals.answer(id, { approver: "bob", verdict: "approve" }), "request-closed");
  });

  it("deny: the identical call is refused once with the approver's reason, then asks afresh", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    await h.approvals.answer(id, { approver: "bob", verdict: "deny", reason: "duplicate refund" });
    const { decision } = await h.gate.decide(refund(20));
    expect(decision).toMatchObject({ verdict: "deny", code: "denied-by-approver" });
    expect(decision.reasons[0]).toContain("duplicate refund");
    const fresh = await ask(h, refund(20));
    expect(fresh).not.toBe(id);
    await rejectsWith(h.approvals.answer(id, { approver: "alice", verdict: "approve" }), "request-closed");
  });

  it("expire: an unanswered request past its TTL cannot be answered and the call is refused", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    h.clock.advance(15 * 60_000);
    await rejectsWith(h.approvals.answer(id, { approver: "alice", verdict: "approve" }), "request-expired");
    expect((await h.approvals.get(id))?.answers).toEqual([]);
    expect((await h.approvals.list({ status: "expired" })).map((r) => r.id)).toEqual([id]);
    expect((await h.gate.decide(refund(20))).decision).toMatchObject({ verdict: "deny", code: "approval-expired" });
    expect(await ask(h, refund(20))).not.toBe(id);
  });

  it("expire: an approval not used before its expiry no longer allows the call", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    await h.approvals.answer(id, { approver: "alice", verdict: "approve" });
    h.clock.advance(15 * 60_000 + 1);
    expect((await h.gate.decide(refund(20))).decision).toMatchObject({ verdict: "deny", code: "approval-expired" });
  });

  it("N-of-M: two distinct approvers are needed; one approver cannot count twice", async () => {
    const h = await house();
    const id = await ask(h, refund(500));
    expect(await h.approvals.answer(id, { approver: "alice", verdict: "approve" })).toMatchObject({ status: "pending", approvals: 1, required: 2 });
    expect(await ask(h, refund(500))).toBe(id);
    await rejectsWith(h.approvals.answer(id, { approver: "alice", verdict: "approve" }), "already-answered");
    expect(await h.approvals.answer(id, { approver: "bob", verdict: "approve" })).toMatchObject({ status: "approved", approvals: 2 });
    expect((await h.gate.decide(refund(500))).decision.code).toBe("allowed-by-approval");
  });

  it.each([
    ["the agent itself", "bot", {}],
    ["the run's principal", "dave", { principal: "dave" }],
    ["the principal in another case", "dave", { principal: "DAVE" }],
  ])("refuses self-approval by %s and records nothing", async (_what, approver, extra) => {
    const h = await house();
    const id = await ask(h, refund(20, extra));
    await rejectsWith(h.approvals.answer(id, { approver, verdict: "approve" }), "self-approval");
    expect(await h.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });

  it("refuses arguments changed after approval: any byte of difference is another request", async () => {
    const h = await house();
    const id = await ask(h, refund(50));
    await h.approvals.answer(id, { approver: "alice", verdict: "approve" });
    const changed = await ask(h, { agent: "bot", tool: "refund", args: { order: "ord_1", amount: 51 } });
    expect(changed).not.toBe(id);
    expect((await ask(h, { agent: "bot", tool: "refund", args: { order: "ord_2", amount: 50 } }))).not.toBe(id);
    expect((await h.approvals.get(id))?.status).toBe("approved");
    // Key order does not matter (canonical JSON); the values do.
    expect((await h.gate.decide({ agent: "bot", tool: "refund", args: { amount: 50, order: "ord_1" } })).decision.code).toBe("allowed-by-approval");
  });

  it("grants: later calls inside the scope run without asking; calls outside it ask", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    const scope = { type: "object", properties: { order: { type: "string" }, amount: { type: "number", maximum: 80 } } };
    await h.approvals.answer(id, { approver: "alice", verdict: "approve", grant: { ttlMs: 3_600_000, maxUses: 2, args: scope } });
    expect((await h.gate.decide(refund(20))).decision.code).toBe("allowed-by-approval");
    const [grant] = await h.approvals.grants.list();
    expect(grant).toMatchObject({ requestId: id, createdBy: "alice", maxUses: 2, uses: 0, active: true, approvals: 1 });
    expect((await h.gate.decide(refund(60, { principal: "erin" }))).decision).toMatchObject({ verdict: "allow", code: "allowed-by-grant", approval: { id: grant!.id } });
    await ask(h, refund(90)); // outside the scope
    await ask(h, refund(300)); // needs two approvers; a one-approver grant never covers it
    await ask(h, { agent: "helper", tool: "refund", args: { order: "ord_1", amount: 20 } }); // another agent
    expect((await h.gate.decide(refund(70))).decision.code).toBe("allowed-by-grant");
    await ask(h, refund(10)); // both uses spent
    expect((await h.approvals.grants.list())[0]).toMatchObject({ uses: 2, active: false });
    expect(h.audit.events().some((e) => e.approval?.step === "granted" && e.approval.id === grant!.id)).toBe(true);
  });

  it("a grant without an argument scope covers exactly the approved arguments", async () => {
    const h = await house();
    const id = await ask(h, refund(20));
    await h.approvals.answer(id, { approver: "alice", verdict: "approve", grant: { ttlMs: 60_000 } });
    expect((await h.gate.decide(refund(20))).decision.code).toBe("allowed-by-approval");
    expect((await h.gate.decide(refund(20))).decision.code).toBe("allowed-by-grant");
    await ask(h, refund(21));
  });

  it("grant expiry and revocation: an expired or revoked grant covers nothing", async () => {
    const h = await house();
    const scope = { type: "object" };
    const first = await ask(h, refund(20));
    await h.approvals.answer(first, { approver: "alice", verdict: "approve", grant: { ttlMs: 60_000, args: scope } });
    expect((await h.gate.decide(refund(30))).decision.code).toBe("allowed-by-grant");
    h.clock.advance(60_000);
    await ask(h, refund(30));

    const second = await ask(h, refund(40));
    await h.approvals.answer(second, { approver: "alice", verdict: "approve", grant: { ttlMs: 600_000, args: scope } });
    const active = await h.approvals.grants.list({ active: true });
    expect(active).toHaveLength(1);
    await rejectsWith(h.approvals.grants.revoke(active[0]!.id, "bob"), "approver-not-allowed");
    expect((await h.gate.decide(refund(41))).decision.code).toBe("allowed-by-grant");
    expect(await h.approvals.grants.revoke(active[0]!.id, "carol")).toMatchObject({ revokedBy: "carol", active: false });
    await ask(h, refund(42));
    await rejectsWith(h.approvals.grants.revoke(active[0]!.id, "alice"), "grant-revoked");
    await rejectsWith(h.approvals.grants.revoke("no-such-grant", "carol"), "grant-unknown");
    expect(h.audit.events().filter((e) => e.approval?.step === "revoked").map((e) => e.approval?.by)).toEqual(["carol"]);
  });

  it.each([
    ["a grant longer than the maximum", { ttlMs: 48 * 3_600_000 }],
    ["a grant scope that is not a schema", { ttlMs: 60_000, args: "amount < 100" }],
    ["a grant scope with an unknown keyword", { ttlMs: 60_000, args: { type: "object", maxAmount: 5 } }],
    ["a grant scope with pathPrefix", { ttlMs: 60_000, args: { type: "string", pathPrefix: "/srv" } }],
  ])("refuses %s and records nothing", async (_what, grant) => {
    const h = await house();
    const id = await ask(h, refund(20));
    await rejectsWith(h.approvals.answer(id, { approver: "alice", verdict: "approve", grant }), "grant-invalid");
    expect(await h.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });

  it.each([
    ["an unknown verdict", { approver: "alice", verdict: "maybe" }, "answer-invalid"],
    ["a missing approver", { verdict: "approve" }, "answer-invalid"],
    ["an unknown field", { approver: "alice", verdict: "approve", admin: true }, "answer-invalid"],
    ["an approver not in the policy", { approver: "zed", verdict: "approve" }, "approver-unknown"],
    ["a reason longer than 1000 characters", { approver: "alice", verdict: "approve", reason: "x".repeat(1001) }, "answer-invalid"],
  ] as const)("refuses %s and records nothing", async (_what, input, code) => {
    const h = await house();
    const id = await ask(h, refund(20));
    await rejectsWith(h.approvals.answer(id, input as never), code);
    expect(await h.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });

  it("refuses unknown request ids", async () => {
    const h = await house();
    await rejectsWith(h.approvals.answer("00000000-0000-0000-0000-000000000000", { approver: "alice", verdict: "approve" }), "request-unknown");
    await rejectsWith(h.approvals.answer("x".repeat(500), { approver: "alice", verdict: "approve" }), "request-unknown");
    expect(await h.approvals.get("nope")).toBeUndefined();
  });

  it("two approvers answering at once (two connections): both answers count, exactly once each", async () => {
    const h = await house();
    const other = makeHouse(await h.reopen(), { manual: h.clock });
    const id = await ask(h, refund(500));
    const results = await Promise.all([
      h.approvals.answer(id, { approver: "alice", verdict: "approve" }),
      other.approvals.answer(id, { approver: "bob", verdict: "approve" }),
    ]);
    expect(results.map((r) => r.approvals).sort()).toEqual([1, 2]);
    expect(await h.approvals.get(id)).toMatchObject({ status: "approved", approvals: 2 });
  });

  it("one approver answering twice at once is counted once", async () => {
    const h = await house();
    const other = makeHouse(await h.reopen(), { manual: h.clock });
    const id = await ask(h, refund(500));
    const settled = await Promise.allSettled([
      h.approvals.answer(id, { approver: "alice", verdict: "approve" }),
      other.approvals.answer(id, { approver: "alice", verdict: "approve" }),
    ]);
    expect(settled.filter((s) => s.status === "fulfilled")).toHaveLength(1);
    const failed = settled.find((s) => s.status === "rejected");
    expect((failed?.reason as ApprovalError).code).toBe("already-answered");
    expect(await h.approvals.get(id)).toMatchObject({ status: "pending", approvals: 1 });
  });

  it("an approve and a deny at once: exactly one decides", async () => {
    const h = await house();
    const other = makeHouse(await h.reopen(), { manual: h.clock });
    const id = await ask(h, refund(20));
    const settled = await Promise.allSettled([
      h.approvals.answer(id, { approver: "alice", verdict: "approve" }),
      other.approvals.answer(id, { approver: "bob", verdict: "deny" }),
    ]);
    expect(settled.filter((s) => s.status === "fulfilled")).toHaveLength(1);
    expect(((settled.find((s) => s.status === "rejected") as PromiseRejectedResult).reason as ApprovalError).code).toBe("request-closed");
    expect((await h.approvals.get(id))?.answers).toHaveLength(1);
  });

  it("an approval is used once even when identical calls race for it", async () => {
    const h = await house();
    const other = makeHouse(await h.reopen(), { manual: h.clock });
    const id = await ask(h, refund(20));
    await h.approvals.answer(id, { approver: "alice", verdict: "approve" });
    const decisions = await Promise.all([h.gate.decide(refund(20)), other.gate.decide(refund(20)), h.gate.decide(refund(20))]);
    expect(decisions.filter((d) => d.decision.verdict === "allow")).toHaveLength(1);
    expect(decisions.filter((d) => d.decision.verdict === "ask")).toHaveLength(2);
  });

  it("a restart loses no pending request: close, reopen, answer, run", async () => {
    const h = await house();
    const id = await ask(h, refund(500));
    await h.approvals.answer(id, { approver: "alice", verdict: "approve" });
    await h.store.close();
    const after = makeHouse(await h.reopen(), { manual: h.clock });
    expect(await after.approvals.list({ status: "pending" })).toMatchObject([{ id, approvals: 1, tool: "refund", args: { order: "ord_1", amount: 500 } }]);
    await after.approvals.answer(id, { approver: "bob", verdict: "approve" });
    expect((await after.gate.decide(refund(500))).decision.code).toBe("allowed-by-approval");
  });

  it("fails closed: a store that errors while deciding makes the gate deny", async () => {
    const h = await house();
    await h.store.close();
    const { decision } = await h.gate.decide(refund(20));
    expect(decision).toMatchObject({ verdict: "deny", code: "approval-error" });
    await rejectsWith(h.approvals.answer("any", { approver: "alice", verdict: "approve" }), "store-unavailable");
  });

  it("no answer is half-recorded: a failure inside the answer's transaction rolls all of it back", async () => {
    const { store } = await kind.fresh();
    const ids = ["req-1", "grant-1", "req-2", "grant-1"]; // the second grant id collides: its INSERT fails mid-transaction
    const h = makeHouse(store, { newId: () => ids.shift() ?? "spare" });
    await ask(h, refund(20));
    await h.approvals.answer("req-1", { approver: "alice", verdict: "approve", grant: { ttlMs: 60_000 } });
    await ask(h, refund(30));
    await rejectsWith(h.approvals.answer("req-2", { approver: "alice", verdict: "approve", grant: { ttlMs: 60_000 } }), "store-unavailable");
    const stored = await store.get("req-2");
    expect(stored).toMatchObject({ status: "pending", answers: [] });
    // The attempt is in the audit log, followed by its refusal; no approval step.
    expect(h.audit.events().filter((e) => e.action === "req-2" && e.type === "approval").map((e) => e.approval?.step)).toEqual([
      "requested",
      "answered",
      "answer-refused",
    ]);
  });

  it("lists by effective status: pending past expiry shows as expired", async () => {
    const h = await house();
    const a = await ask(h, refund(1));
    const b = await ask(h, refund(2));
    await h.approvals.answer(b, { approver: "alice", verdict: "deny" });
    expect((await h.approvals.list({ status: "pending" })).map((r) => r.id)).toEqual([a]);
    expect((await h.approvals.list({ status: "denied" })).map((r) => r.id)).toEqual([b]);
    h.clock.advance(15 * 60_000);
    expect(await h.approvals.list({ status: "pending" })).toEqual([]);
    expect((await h.approvals.list({ status: "expired" })).map((r) => r.id)).toEqual([a]);
    expect((await h.approvals.list()).map((r) => r.id).sort()).toEqual([a, b].sort());
  });

  it("a preview that fails is shown to the approver; the call still waits for them", async () => {
    const { store } = await kind.fresh();
    const h = makeHouse(store, {
      preview: () => {
        throw new Error("no such table: orders");
      },
    });
    const id = await ask(h, refund(20));
    expect((await h.approvals.get(id))?.preview).toEqual({ error: "the dry-run preview failed: no such table: orders" });
  });

  it("an audit log that refuses the answer means the answer is not recorded", async () => {
    const { store } = await kind.fresh();
    let refuse = false;
    const audit = { append: (e: Parameters<MemoryAuditLog["append"]>[0]) => (refuse ? Promise.reject(new Error("disk full")) : memory.append(e)) };
    const memory = createMemoryAuditLog();
    const h = makeHouse(store, { audit });
    const id = await ask(h, refund(20));
    refuse = true;
    await rejectsWith(h.approvals.answer(id, { approver: "alice", verdict: "approve" }), "audit-unavailable");
    expect(await h.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });

  it("passes allow, deny and dry-run through untouched", async () => {
    const h = await house();
    expect((await h.gate.decide({ agent: "bot", tool: "get_order", args: {} })).decision.code).toBe("allowed-by-default");
    expect((await h.gate.decide({ agent: "bot", tool: "nope", args: {} })).decision.code).toBe("tool-not-listed");
    expect(await h.approvals.list()).toEqual([]);
  });
});

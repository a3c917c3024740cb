import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApprovals, createApproverDirectory, type Approvals } from "../src/approvals/index.js";
import { createSandbox, type Sandbox } from "../src/sandbox/index.js";
import { openSqliteApprovalStore, type ApprovalStore } from "../src/store/index.js";
import { makeFixture, runIn, type Fixture } from "./sandbox-helpers.js";

/**
 * Widening a profile is a human act (issue 8): a run that widens its profile asks the real
 * approvals module (SQLite store) and runs only under a live approval or grant for exactly that
 * widening; the grant id is in the run's audit records. Real bubblewrap runs, nothing mocked.
 */
let fx: Fixture;
let store: ApprovalStore;
let approvals: Approvals;
let sandbox: Sandbox;
let cache: string;
let now = Date.parse("2026-11-22T10:00:00Z");
const clock = (): Date => new Date(now);

beforeAll(() => {
  fx = makeFixture();
  cache = join(fx.root, "cache");
  mkdirSync(cache);
  store = openSqliteApprovalStore(join(fx.root, "approvals.db"));
  approvals = createApprovals({
    store,
    audit: { append: (e) => Promise.resolve(void fx.events.push(e)) },
    approvers: createApproverDirectory({ alice: { roles: ["approver"] } }),
    clock,
  });
  sandbox = createSandbox({ auditSink: { append: (e) => Promise.resolve(void fx.events.push(e)) }, hostEnv: fx.hostEnv, dataDir: fx.dataDir, approvals, clock });
});

afterAll(async () => {
  await sandbox?.drain();
  await store?.close?.();
  await fx?.cleanup();
});

const write = (name: string): string[] => ["sh", "-c", `echo widened > ${join(cache, name)}`];

describe("widening a profile", () => {
  let requestId = "";

  it("without an approval is refused, nothing runs, and a request waits for an approver", async () => {
    const before = fx.events.length;
    const error = await sandbox.run(write("first"), { cwd: fx.work, widen: [`writable=${cache}`], agent: "builder" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "SandboxError", code: "widening-unapproved" });
    expect(existsSync(join(cache, "first"))).toBe(false);
    const pending = await approvals.list({ status: "pending" });
    expect(pending).toHaveLength(1);
    expect(pending[0]).toMatchObject({ tool: "sandbox.widen", agent: "builder", args: { profile: "build", cwd: fx.work, widen: [`writable=${cache}`] } });
    requestId = pending[0]!.id;
    expect((error as Error & { help?: string }).help).toContain(`gatehouse approvals approve ${requestId}`);
    const decisions = fx.events.slice(before).filter((e) => e.tool === "sandbox.run");
    expect(decisions.map((e) => e.decision?.verdict)).toEqual(["deny"]);
  });

  it("runs once an approver grants it, with the grant recorded in the run's audit events", async () => {
    await approvals.answer(requestId, { approver: "alice", verdict: "approve", grant: { ttlMs: 60 * 60_000 } });
    const grant = (await approvals.grants.list({ active: true }))[0]!;
    // The approved request itself is used first, then the grant.
    for (const [file, id, code] of [["second", requestId, "allowed-by-approval"], ["third", grant.id, "allowed-by-grant"]] as const) {
      const before = fx.events.length;
      const { result } = await runIn(sandbox, write(file), { cwd: fx.work, widen: [`writable=${cache}`], agent: "builder" });
      expect(result.exitCode).toBe(0);
      expect(readFileSync(join(cache, file), "utf8")).toBe("widened\n");
      expect(result.warnings.join("\n")).toContain(`widened (writable=${cache})`);
      const runEvents = fx.events.slice(before).filter((e) => e.tool === "sandbox.run");
      expect(runEvents.map((e) => e.type)).toEqual(["decision", "outcome"]);
      for (const e of runEvents) {
        expect(e.approvals).toEqual([id]);
        expect(e.args).toMatchObject({ widen: [`writable=${cache}`] });
      }
      expect(runEvents[0]!.decision).toMatchObject({ verdict: "allow", code });
    }
    expect((await approvals.grants.list())[0]!.uses).toBe(1);
  });

  it("the grant covers only that widening: another path, or one more widening, is refused", async () => {
    const other = join(fx.root, "other");
    mkdirSync(other);
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: [`writable=${other}`], agent: "builder" })).rejects.toMatchObject({ code: "widening-unapproved" });
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: [`writable=${cache}`, "writable-protected=.envrc"], agent: "builder" })).rejects.toMatchObject({ code: "widening-unapproved" });
  });

  it("the same run without --widen stays narrow", async () => {
    const { result } = await runIn(sandbox, write("narrow"), { cwd: fx.work });
    expect(result.exitCode).not.toBe(0);
    expect(existsSync(join(cache, "narrow"))).toBe(false);
  });

  it("an expired grant no longer widens anything", async () => {
    now += 2 * 60 * 60_000;
    await expect(sandbox.run(write("late"), { cwd: fx.work, widen: [`writable=${cache}`], agent: "builder" })).rejects.toMatchObject({ code: "widening-unapproved" });
    expect(existsSync(join(cache, "late"))).toBe(false);
  });

  it("a revoked grant no longer widens anything", async () => {
    const asked = await sandbox.run(["true"], { cwd: fx.work, widen: ["writable-protected=.git/hooks"], agent: "builder" }).catch((e: unknown) => e);
    expect(asked).toMatchObject({ code: "widening-unapproved" });
    const request = (await approvals.list({ status: "pending" })).find((r) => (r.args as { widen: string[] }).widen[0] === "writable-protected=.git/hooks")!;
    await approvals.answer(request.id, { approver: "alice", verdict: "approve", grant: { ttlMs: 60 * 60_000 } });
    // use the one-time approval, leaving the grant
    await runIn(sandbox, ["true"], { cwd: fx.work, widen: ["writable-protected=.git/hooks"], agent: "builder" });
    const grant = (await approvals.grants.list({ active: true })).find((g) => g.requestId === request.id)!;
    await approvals.grants.revoke(grant.id, "alice");
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: ["writable-protected=.git/hooks"], agent: "builder" })).rejects.toMatchObject({ code: "widening-unapproved" });
  });

  it("bad widenings and a sandbox without approvals are refused", async () => {
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: ["everything"] })).rejects.toMatchObject({ code: "widening-invalid" });
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: ["writable=/does/not/exist"] })).rejects.toMatchObject({ code: "widening-invalid" });
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: ["writable-protected=../x"] })).rejects.toMatchObject({ code: "widening-invalid" });
    const bare = createSandbox({ auditSink: { append: () => Promise.resolve() }, hostEnv: fx.hostEnv, dataDir: fx.dataDir, host: sandbox.host });
    await expect(bare.run(write("bare"), { cwd: fx.work, widen: [`writable=${cache}`] })).rejects.toMatchObject({ code: "widening-unapproved" });
    expect(existsSync(join(cache, "bare"))).toBe(false);
    await bare.drain();
  });
});

describe("widening checks that need no person come first", () => {
  it("a network widening without an egress proxy is refused before any approval is asked or spent", async () => {
    const before = (await approvals.list()).length;
    await expect(sandbox.run(["true"], { cwd: fx.work, widen: ["network"], agent: "builder" })).rejects.toMatchObject({ code: "proxy-unavailable" });
    expect((await approvals.list()).length).toBe(before);
  });

  it("an approvals check that throws refuses the widening, nothing runs", async () => {
    const broken = createSandbox({ auditSink: { append: () => Promise.resolve() }, hostEnv: fx.hostEnv, dataDir: fx.dataDir, host: sandbox.host, approvals: { check: () => Promise.reject(new Error("store down")) } });
    await expect(broken.run(write("broken"), { cwd: fx.work, widen: [`writable=${cache}`] })).rejects.toMatchObject({ code: "widening-unapproved" });
    expect(existsSync(join(cache, "broken"))).toBe(false);
    await broken.drain();
  });
});

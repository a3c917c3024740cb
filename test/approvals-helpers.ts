import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createApprovals, createApproverDirectory, tokenDigest, type Approvals, type ApprovalsOptions } from "../src/approvals/index.js";
import { createMemoryAuditLog, type MemoryAuditLog } from "../src/audit/index.js";
import { createGate, type Gate } from "../src/gate/index.js";
import { parsePolicy, type CompiledPolicy } from "../src/policy/index.js";
import { openPostgresApprovalStore, openSqliteApprovalStore, type ApprovalStore } from "../src/store/index.js";

/** PostgreSQL on this machine (trust auth); `.ci/run` starts it when it is not running. */
export const PG_URL = "postgres://postgres@127.0.0.1:5432";

/** A fresh directory under the system temp dir (on disk, so SQLite files are real). */
export function tempDir(prefix = "gatehouse-approvals-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** API tokens of the test approvers; the policy holds only their SHA-256. */
export const TOKENS = { alice: "alice-token-0123456789", bob: "bob-token-0123456789", carol: "carol-token-0123456789", bot: "bot-token-0123456789" };

export const POLICY_TEXT = `
version: 1
agents:
  bot: { owner: payments, environment: production }
  helper: { owner: payments, environment: staging }
tools:
  refund:
    risk: high-risk-write
    args:
      type: object
      required: [order, amount]
      properties: { order: { type: string }, amount: { type: number } }
  get_order: { risk: read-only, args: { type: object } }
  note: { risk: low-risk-write, args: { type: object } }
rules:
  - id: big-refund
    when: tool == "refund" && args.amount > 100
    decision: ask
    approvers: 2
    reason: refunds over 100 need two approvers
  - id: refund-ask
    when: tool == "refund"
    decision: ask
    reason: refunds need a human
approvers:
  alice: { roles: [approver], tokenSha256: "${tokenDigest(TOKENS.alice)}" }
  bob: { roles: [approver], tokenSha256: "${tokenDigest(TOKENS.bob)}" }
  carol: { roles: [admin], tokenSha256: "${tokenDigest(TOKENS.carol)}" }
  bot: { roles: [approver], tokenSha256: "${tokenDigest(TOKENS.bot)}" }
  dave: { roles: [approver] }
`;

export const policy: CompiledPolicy = parsePolicy(POLICY_TEXT, "approvals-test.yaml");

/** A clock the test moves by hand. */
export function manualClock(start = Date.parse("2026-03-01T10:00:00.000Z")) {
  let now = start;
  return { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

export interface House {
  readonly gate: Gate;
  readonly approvals: Approvals;
  readonly audit: MemoryAuditLog;
  readonly clock: ReturnType<typeof manualClock>;
  readonly store: ApprovalStore;
}

/** A gate with the approvals check over `store`, the test policy and a manual clock. */
export function makeHouse(store: ApprovalStore, extra: Omit<Partial<ApprovalsOptions>, "clock"> & { manual?: ReturnType<typeof manualClock> } = {}): House {
  const { manual, ...rest } = extra;
  const clock = manual ?? manualClock();
  const audit = createMemoryAuditLog();
  const approvals = createApprovals({
    store,
    audit,
    approvers: createApproverDirectory(policy.file.approvers ?? {}),
    clock: clock.now,
    pollMs: 20,
    ...rest,
  });
  const gate = createGate({ policy, audit, checks: [approvals.check], clock: clock.now });
  return { gate, approvals, audit, clock, store };
}

/** One kind of approvals store under test: how to open a fresh one, and reopen it (restart). */
export interface StoreKind {
  readonly name: string;
  /** A new, empty store; `reopen` opens the same data again (another connection). */
  fresh(): Promise<{ store: ApprovalStore; reopen: () => Promise<ApprovalStore> }>;
  cleanup(): Promise<void>;
}

/** SQLite files in a temp directory. */
export function sqliteKind(): StoreKind {
  const dir = tempDir();
  let n = 0;
  return {
    name: "sqlite",
    fresh() {
      const file = join(dir, `approvals-${n++}.db`);
      return Promise.resolve({ store: openSqliteApprovalStore(file), reopen: () => Promise.resolve(openSqliteApprovalStore(file)) });
    },
    cleanup: () => Promise.resolve(),
  };
}

/**
 * A uniquely named PostgreSQL database for this test run (dropped in `cleanup`); each `fresh`
 * store gets its own schema in it.
 */
export async function postgresKind(): Promise<StoreKind> {
  const database = `gatehouse_test_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
  const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
  const url = `${PG_URL}/${database}`;
  const opened: ApprovalStore[] = [];
  let n = 0;
  return {
    name: "postgres",
    async fresh() {
      const schema = `t${n++}`;
      const open = async () => {
        const store = await openPostgresApprovalStore({ connectionString: url, schema });
        opened.push(store);
        return store;
      };
      return { store: await open(), reopen: open };
    },
    async cleanup() {
      await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
      const client = new pg.Client({ connectionString: `${PG_URL}/postgres` });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
      await client.end();
    },
  };
}

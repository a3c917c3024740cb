import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import {
  grantFromRow,
  jsonText,
  requestFromRow,
  statusCondition,
  type AnswerRow,
  type GrantRow,
  type RequestRow,
} from "./approvals-sql.js";
import type { AnswerResult, ApprovalStore, NewAnswer, NewApprovalRequest, StoredApprovalRequest, StoredGrant } from "./approvals-store.js";
import { StoreError, toStoreError } from "./errors.js";

/** `PRAGMA application_id` of a Gatehouse approvals database: the ASCII bytes "GHAP". */
export const APPROVALS_APPLICATION_ID = 0x47484150;
/** Schema version (`PRAGMA user_version`) of the approvals database. */
export const APPROVALS_SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE approval_requests (
  id TEXT PRIMARY KEY,
  digest TEXT NOT NULL,
  agent TEXT NOT NULL,
  principal TEXT,
  run TEXT,
  request TEXT,
  environment TEXT,
  tool TEXT NOT NULL,
  args TEXT NOT NULL,
  risk TEXT,
  rules TEXT NOT NULL,
  reasons TEXT NOT NULL,
  required INTEGER NOT NULL CHECK (required >= 1),
  policy_digest TEXT NOT NULL,
  preview TEXT,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'used')),
  decided_ms INTEGER,
  used_ms INTEGER,
  reported INTEGER NOT NULL DEFAULT 0 CHECK (reported IN (0, 1))
) STRICT;
CREATE UNIQUE INDEX approval_requests_one_pending ON approval_requests (digest) WHERE status = 'pending';
CREATE INDEX approval_requests_by_digest ON approval_requests (digest, created_ms);
CREATE INDEX approval_requests_by_created ON approval_requests (created_ms);
CREATE TABLE approval_answers (
  request_id TEXT NOT NULL REFERENCES approval_requests (id),
  approver TEXT NOT NULL,
  verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
  reason TEXT,
  at_ms INTEGER NOT NULL,
  PRIMARY KEY (request_id, approver)
) STRICT;
CREATE TABLE approval_grants (
  id TEXT PRIMARY KEY,
  request_id TEXT NOT NULL REFERENCES approval_requests (id),
  tool TEXT NOT NULL,
  agent TEXT NOT NULL,
  policy_digest TEXT NOT NULL,
  args TEXT,
  approvals INTEGER NOT NULL CHECK (approvals >= 1),
  created_by TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL,
  max_uses INTEGER CHECK (max_uses IS NULL OR max_uses >= 1),
  uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
  revoked_ms INTEGER,
  revoked_by TEXT
) STRICT;
CREATE INDEX approval_grants_by_tool ON approval_grants (tool, agent);
`;

/**
 * Opens (creating if needed) the SQLite file that holds approval requests and grants. WAL mode,
 * `synchronous = FULL` (an acknowledged answer survives power loss), writes in `BEGIN IMMEDIATE`
 * transactions so two processes answering at once serialise instead of interleaving.
 *
 * Throws StoreError (`store-foreign` for another application's database, `store-version` for a
 * newer schema, `store-corrupt`, `store-missing`).
 *
 * @example
 * const store = openSqliteApprovalStore("/var/lib/gatehouse/approvals.db");
 */
export function openSqliteApprovalStore(file: string): ApprovalStore {
  let db: Database.Database;
  try {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    db = new Database(file);
  } catch (error) {
    throw toStoreError(error, file);
  }
  try {
    db.pragma("busy_timeout = 5000");
    prepare(db, file);
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
  } catch (error) {
    db.close();
    throw toStoreError(error, file);
  }
  return sqliteStore(db, file);
}

function prepare(db: Database.Database, file: string): void {
  const appId = Number(db.pragma("application_id", { simple: true }));
  const version = Number(db.pragma("user_version", { simple: true }));
  const tables = Number((db.prepare("SELECT count(*) AS n FROM sqlite_master").get() as { n: number }).n);
  if (appId === 0 && version === 0 && tables === 0) {
    db.transaction(() => {
      db.exec(SCHEMA);
      db.pragma(`application_id = ${APPROVALS_APPLICATION_ID}`);
      db.pragma(`user_version = ${APPROVALS_SCHEMA_VERSION}`);
    }).immediate();
    return;
  }
  if (appId !== APPROVALS_APPLICATION_ID) {
    throw new StoreError("store-foreign", file, "this is not a Gatehouse approvals database; point --db at another file");
  }
  if (version !== APPROVALS_SCHEMA_VERSION) {
    throw new StoreError("store-version", file, `approvals schema version ${version} is not ${APPROVALS_SCHEMA_VERSION}; upgrade gatehouse`);
  }
}

function sqliteStore(db: Database.Database, file: string): ApprovalStore {
  const q = {
    get: db.prepare<[string], RequestRow>("SELECT * FROM approval_requests WHERE id = ?"),
    answers: db.prepare<[string], AnswerRow>("SELECT * FROM approval_answers WHERE request_id = ? ORDER BY at_ms, rowid"),
    latest: db.prepare<[string], RequestRow>("SELECT * FROM approval_requests WHERE digest = ? ORDER BY created_ms DESC, rowid DESC LIMIT 1"),
    pendingFor: db.prepare<[string], RequestRow>("SELECT * FROM approval_requests WHERE digest = ? AND status = 'pending'"),
    expireStale: db.prepare<[string, number]>("UPDATE approval_requests SET status = 'expired' WHERE digest = ? AND status = 'pending' AND expires_ms <= ?"),
    insert: db.prepare(`INSERT INTO approval_requests (id, digest, agent, principal, run, request, environment, tool, args, risk, rules, reasons,
      required, policy_digest, preview, created_ms, expires_ms, status) VALUES (@id, @digest, @agent, @principal, @run, @request, @environment,
      @tool, @args, @risk, @rules, @reasons, @required, @policy_digest, @preview, @created_ms, @expires_ms, 'pending') ON CONFLICT DO NOTHING`),
    insertAnswer: db.prepare("INSERT INTO approval_answers (request_id, approver, verdict, reason, at_ms) VALUES (?, ?, ?, ?, ?)"),
    setStatus: db.prepare<[string, number, string]>("UPDATE approval_requests SET status = ?, decided_ms = ? WHERE id = ?"),
    consume: db.prepare<[number, string, number]>(
      "UPDATE approval_requests SET status = 'used', used_ms = ? WHERE id = ? AND status = 'approved' AND expires_ms > ?",
    ),
    closeReported: db.prepare<[string, number]>(`UPDATE approval_requests
      SET reported = 1, status = CASE WHEN status IN ('pending', 'approved') THEN 'expired' ELSE status END
      WHERE id = ? AND reported = 0 AND (status IN ('denied', 'expired') OR (status IN ('pending', 'approved') AND expires_ms <= ?))`),
    insertGrant: db.prepare(`INSERT INTO approval_grants (id, request_id, tool, agent, policy_digest, args, approvals, created_by, created_ms,
      expires_ms, max_uses) VALUES (@id, @request_id, @tool, @agent, @policy_digest, @args, @approvals, @created_by, @created_ms, @expires_ms, @max_uses)`),
    grant: db.prepare<[string], GrantRow>("SELECT * FROM approval_grants WHERE id = ?"),
    activeGrants: db.prepare<[string, string, string, number], GrantRow>(`SELECT * FROM approval_grants WHERE tool = ? AND agent = ? AND policy_digest = ?
      AND revoked_ms IS NULL AND expires_ms > ? AND (max_uses IS NULL OR uses < max_uses) ORDER BY created_ms, rowid`),
    useGrant: db.prepare<[string, number]>(`UPDATE approval_grants SET uses = uses + 1 WHERE id = ? AND revoked_ms IS NULL AND expires_ms > ?
      AND (max_uses IS NULL OR uses < max_uses)`),
    revokeGrant: db.prepare<[number, string, string]>("UPDATE approval_grants SET revoked_ms = ?, revoked_by = ? WHERE id = ? AND revoked_ms IS NULL"),
  };

  const load = (row: RequestRow | undefined): StoredApprovalRequest | undefined => (row ? requestFromRow(row, q.answers.all(row.id)) : undefined);
  const guard = <T>(fn: () => T): Promise<T> => {
    try {
      return Promise.resolve(fn());
    } catch (error) {
      return Promise.reject(toStoreError(error, file));
    }
  };

  const open = db.transaction((request: NewApprovalRequest) => {
    q.expireStale.run(request.digest, request.createdMs);
    const info = q.insert.run(insertParams(request));
    const row = q.pendingFor.get(request.digest);
    if (!row) throw new StoreError("store-conflict", file, "a pending request vanished while being opened");
    return { request: load(row) as StoredApprovalRequest, created: info.changes === 1 };
  });

  const answer = db.transaction((input: NewAnswer): AnswerResult => {
    const current = load(q.get.get(input.id));
    if (!current) return { kind: "not-found" };
    if (current.status !== "pending") return { kind: "not-pending", request: current };
    if (current.expiresMs <= input.atMs) return { kind: "expired", request: current };
    if (current.answers.some((a) => a.approver === input.approver)) return { kind: "already-answered", request: current };
    q.insertAnswer.run(input.id, input.approver, input.verdict, input.reason ?? null, input.atMs);
    const approvals = current.answers.filter((a) => a.verdict === "approve").length + (input.verdict === "approve" ? 1 : 0);
    let grant: StoredGrant | undefined;
    if (input.verdict === "deny") {
      q.setStatus.run("denied", input.atMs, input.id);
    } else if (approvals >= current.required) {
      q.setStatus.run("approved", input.atMs, input.id);
      if (input.grant) {
        q.insertGrant.run({
          id: input.grant.id,
          request_id: current.id,
          tool: current.tool,
          agent: current.agent,
          policy_digest: current.policyDigest,
          args: jsonText(input.grant.args),
          approvals,
          created_by: input.approver,
          created_ms: input.atMs,
          expires_ms: input.grant.expiresMs,
          max_uses: input.grant.maxUses ?? null,
        });
        grant = grantFromRow(q.grant.get(input.grant.id) as GrantRow);
      }
    }
    const request = load(q.get.get(input.id)) as StoredApprovalRequest;
    return grant ? { kind: "ok", request, grant } : { kind: "ok", request };
  });

  return {
    openRequest: (request) => guard(() => open.immediate(request)),
    get: (id) => guard(() => load(q.get.get(id))),
    latestForDigest: (digest) => guard(() => load(q.latest.get(digest))),
    list: ({ status, nowMs, limit }) =>
      guard(() => {
        const rows = db
          .prepare<[{ now: number; limit: number }], RequestRow>(
            `SELECT * FROM approval_requests WHERE ${statusCondition(status, "@now")} ORDER BY created_ms DESC, rowid DESC LIMIT @limit`,
          )
          .all({ now: nowMs, limit: limit ?? 500 });
        return rows.map((row) => requestFromRow(row, q.answers.all(row.id)));
      }),
    answer: (input) => guard(() => answer.immediate(input)),
    consume: (id, nowMs) => guard(() => q.consume.run(nowMs, id, nowMs).changes === 1),
    closeReported: (id, nowMs) => guard(() => q.closeReported.run(id, nowMs).changes === 1),
    activeGrants: ({ tool, agent, policyDigest, nowMs }) => guard(() => q.activeGrants.all(tool, agent, policyDigest, nowMs).map(grantFromRow)),
    useGrant: (id, nowMs) => guard(() => q.useGrant.run(id, nowMs).changes === 1),
    getGrant: (id) =>
      guard(() => {
        const row = q.grant.get(id);
        return row ? grantFromRow(row) : undefined;
      }),
    listGrants: ({ activeAtMs }) =>
      guard(() => {
        const rows = db.prepare<[], GrantRow>("SELECT * FROM approval_grants ORDER BY created_ms DESC, rowid DESC").all().map(grantFromRow);
        return activeAtMs === undefined
          ? rows
          : rows.filter((g) => g.revokedMs === undefined && g.expiresMs > activeAtMs && (g.maxUses === undefined || g.uses < g.maxUses));
      }),
    revokeGrant: (id, by, atMs) => guard(() => q.revokeGrant.run(atMs, by, id).changes === 1),
    close: () => guard(() => void db.close()),
  };
}

function insertParams(r: NewApprovalRequest): Record<string, unknown> {
  return {
    id: r.id,
    digest: r.digest,
    agent: r.agent,
    principal: r.principal ?? null,
    run: r.run ?? null,
    request: r.request ?? null,
    environment: r.environment ?? null,
    tool: r.tool,
    args: JSON.stringify(r.args),
    risk: r.risk ?? null,
    rules: JSON.stringify(r.rules),
    reasons: JSON.stringify(r.reasons),
    required: r.required,
    policy_digest: r.policyDigest,
    preview: jsonText(r.preview),
    created_ms: r.createdMs,
    expires_ms: r.expiresMs,
  };
}

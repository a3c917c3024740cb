import type pg from "pg";
import {
  answersByRequest,
  grantFromRow,
  jsonText,
  requestFromRow,
  statusCondition,
  type AnswerRow,
  type GrantRow,
  type RequestRow,
} from "./approvals-sql.js";
import type { AnswerResult, ApprovalStore, NewApprovalRequest, StoredApprovalRequest, StoredGrant } from "./approvals-store.js";
import { StoreError } from "./errors.js";
import { loadPg } from "./pg.js";

/** Options for {@link openPostgresApprovalStore}. */
export interface PostgresApprovalStoreOptions {
  /** A `postgres://` connection string, or give `pool`. */
  readonly connectionString?: string;
  /** An existing pool (the caller closes it). */
  readonly pool?: pg.Pool;
  /** The schema that holds the tables (created if missing); default `gatehouse`. */
  readonly schema?: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Opens the PostgreSQL approvals store, creating its tables if needed (under an advisory lock, so
 * several `gatehouse serve` instances can start at once). Answers run in transactions that lock
 * the request row (`SELECT … FOR UPDATE`), so approvers answering at once on different instances
 * serialise; single use is one conditional `UPDATE`.
 *
 * @example
 * const store = await openPostgresApprovalStore({ connectionString: "postgres://postgres@127.0.0.1/gatehouse" });
 */
export async function openPostgresApprovalStore(options: PostgresApprovalStoreOptions): Promise<ApprovalStore> {
  const schema = options.schema ?? "gatehouse";
  const where = `postgres schema ${schema}`;
  if (!SCHEMA_NAME.test(schema)) throw new StoreError("store-io", where, "the schema name must be lowercase letters, digits and `_`");
  const ownPool = options.pool === undefined;
  const pool = options.pool ?? new (await loadPg()).Pool({ connectionString: options.connectionString, max: 10, connectionTimeoutMillis: 5000 });
  if (ownPool) pool.on("error", () => undefined); // idle-client errors surface on the next query instead of crashing the process
  try {
    await migrate(pool, schema);
  } catch (error) {
    if (ownPool) await pool.end().catch(() => undefined);
    throw toPgStoreError(error, where);
  }
  return postgresStore(pool, schema, where, ownPool);
}

async function migrate(pool: pg.Pool, s: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`gatehouse-approvals:${s}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${s}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${s}".approval_requests (
      seq BIGSERIAL UNIQUE,
      id TEXT PRIMARY KEY,
      digest TEXT NOT NULL,
      agent TEXT NOT NULL,
      principal TEXT, run TEXT, request TEXT, environment TEXT,
      tool TEXT NOT NULL,
      args TEXT NOT NULL,
      risk TEXT,
      rules TEXT NOT NULL,
      reasons TEXT NOT NULL,
      required INTEGER NOT NULL CHECK (required >= 1),
      policy_digest TEXT NOT NULL,
      preview TEXT,
      created_ms BIGINT NOT NULL,
      expires_ms BIGINT NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired', 'used')),
      decided_ms BIGINT,
      used_ms BIGINT,
      reported BOOLEAN NOT NULL DEFAULT FALSE)`);
    await client.query(`CREATE UNIQUE INDEX IF NOT EXISTS approval_requests_one_pending ON "${s}".approval_requests (digest) WHERE status = 'pending'`);
    await client.query(`CREATE INDEX IF NOT EXISTS approval_requests_by_digest ON "${s}".approval_requests (digest, created_ms)`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${s}".approval_answers (
      seq BIGSERIAL UNIQUE,
      request_id TEXT NOT NULL REFERENCES "${s}".approval_requests (id),
      approver TEXT NOT NULL,
      verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'deny')),
      reason TEXT,
      at_ms BIGINT NOT NULL,
      PRIMARY KEY (request_id, approver))`);
    await client.query(`CREATE TABLE IF NOT EXISTS "${s}".approval_grants (
      seq BIGSERIAL UNIQUE,
      id TEXT PRIMARY KEY,
      request_id TEXT NOT NULL REFERENCES "${s}".approval_requests (id),
      tool TEXT NOT NULL,
      agent TEXT NOT NULL,
      policy_digest TEXT NOT NULL,
      args TEXT,
      approvals INTEGER NOT NULL CHECK (approvals >= 1),
      created_by TEXT NOT NULL,
      created_ms BIGINT NOT NULL,
      expires_ms BIGINT NOT NULL,
      max_uses INTEGER CHECK (max_uses IS NULL OR max_uses >= 1),
      uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses)),
      revoked_ms BIGINT,
      revoked_by TEXT)`);
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

type Queryable = Pick<pg.PoolClient, "query">;

function postgresStore(pool: pg.Pool, s: string, where: string, ownPool: boolean): ApprovalStore {
  const R = `"${s}".approval_requests`;
  const A = `"${s}".approval_answers`;
  const G = `"${s}".approval_grants`;

  async function guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toPgStoreError(error, where);
    }
  }

  async function inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return guard(async () => {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const result = await fn(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    });
  }

  async function load(db: Queryable, row: RequestRow | undefined): Promise<StoredApprovalRequest | undefined> {
    if (!row) return undefined;
    const answers = await db.query<AnswerRow>(`SELECT * FROM ${A} WHERE request_id = $1 ORDER BY at_ms, seq`, [row.id]);
    return requestFromRow(row, answers.rows);
  }

  const one = async (db: Queryable, sql: string, params: unknown[]) => (await db.query<RequestRow>(sql, params)).rows[0];

  return {
    openRequest: (request: NewApprovalRequest) =>
      inTransaction(async (db) => {
        await db.query(`UPDATE ${R} SET status = 'expired' WHERE digest = $1 AND status = 'pending' AND expires_ms <= $2`, [
          request.digest,
          request.createdMs,
        ]);
        const inserted = await db.query(
          `INSERT INTO ${R} (id, digest, agent, principal, run, request, environment, tool, args, risk, rules, reasons, required,
            policy_digest, preview, created_ms, expires_ms, status)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'pending') ON CONFLICT DO NOTHING`,
          [
            request.id,
            request.digest,
            request.agent,
            request.principal ?? null,
            request.run ?? null,
            request.request ?? null,
            request.environment ?? null,
            request.tool,
            JSON.stringify(request.args),
            request.risk ?? null,
            JSON.stringify(request.rules),
            JSON.stringify(request.reasons),
            request.required,
            request.policyDigest,
            jsonText(request.preview),
            request.createdMs,
            request.expiresMs,
          ],
        );
        const row = await one(db, `SELECT * FROM ${R} WHERE digest = $1 AND status = 'pending'`, [request.digest]);
        if (!row) throw new StoreError("store-conflict", where, "a pending request vanished while being opened");
        return { request: (await load(db, row)) as StoredApprovalRequest, created: inserted.rowCount === 1 };
      }),
    get: (id) => guard(async () => load(pool, await one(pool, `SELECT * FROM ${R} WHERE id = $1`, [id]))),
    latestForDigest: (digest) =>
      guard(async () => load(pool, await one(pool, `SELECT * FROM ${R} WHERE digest = $1 ORDER BY created_ms DESC, seq DESC LIMIT 1`, [digest]))),
    list: ({ status, nowMs, limit }) =>
      guard(async () => {
        const rows = (
          await pool.query<RequestRow>(`SELECT * FROM ${R} WHERE $1::bigint IS NOT NULL AND ${statusCondition(status, "$1")} ORDER BY created_ms DESC, seq DESC LIMIT $2`, [
            nowMs,
            limit ?? 500,
          ])
        ).rows;
        const ids = rows.map((r) => r.id);
        const answers = answersByRequest((await pool.query<AnswerRow>(`SELECT * FROM ${A} WHERE request_id = ANY($1) ORDER BY at_ms, seq`, [ids])).rows);
        return rows.map((row) => requestFromRow(row, answers.get(row.id) ?? []));
      }),
    answer: (input) =>
      inTransaction(async (db): Promise<AnswerResult> => {
        const current = await load(db, await one(db, `SELECT * FROM ${R} WHERE id = $1 FOR UPDATE`, [input.id]));
        if (!current) return { kind: "not-found" };
        if (current.status !== "pending") return { kind: "not-pending", request: current };
        if (current.expiresMs <= input.atMs) return { kind: "expired", request: current };
        if (current.answers.some((a) => a.approver === input.approver)) return { kind: "already-answered", request: current };
        await db.query(`INSERT INTO ${A} (request_id, approver, verdict, reason, at_ms) VALUES ($1, $2, $3, $4, $5)`, [
          input.id,
          input.approver,
          input.verdict,
          input.reason ?? null,
          input.atMs,
        ]);
        const approvals = current.answers.filter((a) => a.verdict === "approve").length + (input.verdict === "approve" ? 1 : 0);
        let grant: StoredGrant | undefined;
        if (input.verdict === "deny") {
          await db.query(`UPDATE ${R} SET status = 'denied', decided_ms = $1 WHERE id = $2`, [input.atMs, input.id]);
        } else if (approvals >= current.required) {
          await db.query(`UPDATE ${R} SET status = 'approved', decided_ms = $1 WHERE id = $2`, [input.atMs, input.id]);
          if (input.grant) {
            const row = await db.query<GrantRow>(
              `INSERT INTO ${G} (id, request_id, tool, agent, policy_digest, args, approvals, created_by, created_ms, expires_ms, max_uses)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
              [
                input.grant.id,
                current.id,
                current.tool,
                current.agent,
                current.policyDigest,
                jsonText(input.grant.args),
                approvals,
                input.approver,
                input.atMs,
                input.grant.expiresMs,
                input.grant.maxUses ?? null,
              ],
            );
            grant = grantFromRow(row.rows[0] as GrantRow);
          }
        }
        const request = (await load(db, await one(db, `SELECT * FROM ${R} WHERE id = $1`, [input.id]))) as StoredApprovalRequest;
        return grant ? { kind: "ok", request, grant } : { kind: "ok", request };
      }),
    consume: (id, nowMs) =>
      guard(async () => {
        const r = await pool.query(`UPDATE ${R} SET status = 'used', used_ms = $1 WHERE id = $2 AND status = 'approved' AND expires_ms > $1`, [nowMs, id]);
        return r.rowCount === 1;
      }),
    closeReported: (id, nowMs) =>
      guard(async () => {
        const r = await pool.query(
          `UPDATE ${R} SET reported = TRUE, status = CASE WHEN status IN ('pending', 'approved') THEN 'expired' ELSE status END
           WHERE id = $1 AND NOT reported AND (status IN ('denied', 'expired') OR (status IN ('pending', 'approved') AND expires_ms <= $2))`,
          [id, nowMs],
        );
        return r.rowCount === 1;
      }),
    activeGrants: ({ tool, agent, policyDigest, nowMs }) =>
      guard(async () => {
        const r = await pool.query<GrantRow>(
          `SELECT * FROM ${G} WHERE tool = $1 AND agent = $2 AND policy_digest = $3 AND revoked_ms IS NULL AND expires_ms > $4
           AND (max_uses IS NULL OR uses < max_uses) ORDER BY created_ms, seq`,
          [tool, agent, policyDigest, nowMs],
        );
        return r.rows.map(grantFromRow);
      }),
    useGrant: (id, nowMs) =>
      guard(async () => {
        const r = await pool.query(
          `UPDATE ${G} SET uses = uses + 1 WHERE id = $1 AND revoked_ms IS NULL AND expires_ms > $2 AND (max_uses IS NULL OR uses < max_uses)`,
          [id, nowMs],
        );
        return r.rowCount === 1;
      }),
    getGrant: (id) =>
      guard(async () => {
        const row = (await pool.query<GrantRow>(`SELECT * FROM ${G} WHERE id = $1`, [id])).rows[0];
        return row ? grantFromRow(row) : undefined;
      }),
    listGrants: ({ activeAtMs }) =>
      guard(async () => {
        const rows = (await pool.query<GrantRow>(`SELECT * FROM ${G} ORDER BY created_ms DESC, seq DESC`)).rows.map(grantFromRow);
        return activeAtMs === undefined
          ? rows
          : rows.filter((g) => g.revokedMs === undefined && g.expiresMs > activeAtMs && (g.maxUses === undefined || g.uses < g.maxUses));
      }),
    revokeGrant: (id, by, atMs) =>
      guard(async () => {
        const r = await pool.query(`UPDATE ${G} SET revoked_ms = $1, revoked_by = $2 WHERE id = $3 AND revoked_ms IS NULL`, [atMs, by, id]);
        return r.rowCount === 1;
      }),
    close: () => (ownPool ? guard(() => pool.end()) : Promise.resolve()),
  };
}

/** Maps a pg or network error to a StoreError that says what to do. */
function toPgStoreError(error: unknown, where: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  const detail = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  if (code === "23505" || code === "40001" || code === "40P01") {
    return new StoreError("store-conflict", where, `a write conflicted with a concurrent one (${detail}); retry`, options);
  }
  if (code === "53100") return new StoreError("store-full", where, `PostgreSQL is out of disk space (${detail})`, options);
  if (code === "25006") return new StoreError("store-readonly", where, `PostgreSQL refused a write (${detail})`, options);
  if (code === "ECONNREFUSED" || code === "ENOTFOUND" || code === "57P01" || code === "08006" || code === "08001" || /timeout|terminat|Connection/i.test(detail)) {
    return new StoreError("store-io", where, `cannot reach PostgreSQL (${detail}); check that it runs and the connection string`, options);
  }
  return new StoreError("store-io", where, `PostgreSQL failed (${detail})`, options);
}

import type pg from "pg";
import type {
  AuditStore,
  NewAuditRecord,
  StoredAuditRecord,
  StoredCheckpoint,
  StoredLeafHash,
  StoredRecordBytes,
  StoreAppend,
  StoreChanges,
} from "./audit-store.js";
import { StoreError } from "./errors.js";
import { loadPg } from "./pg.js";

/** Options for {@link openPostgresAuditStore}. */
export interface PostgresAuditStoreOptions {
  /** A `postgres://` connection string; or give `pool`. */
  readonly connectionString?: string;
  /** An existing pool (the store does not end it on close). */
  readonly pool?: pg.Pool;
  /** The schema that holds the log's tables; default `gatehouse_audit`. One log per schema. */
  readonly schema?: string;
  /** Open for reading only: never creates anything. */
  readonly readonly?: boolean;
}

const SCHEMA_VERSION = "1";
const APPLICATION = "gatehouse-audit";

/**
 * Opens (and, unless read-only, creates) an audit log in PostgreSQL: the same append-only
 * contract as the SQLite store. Triggers reject UPDATE, DELETE and TRUNCATE on every table;
 * a batch is one INSERT statement, so it commits atomically and durably (with PostgreSQL's
 * default `synchronous_commit = on`).
 *
 * @example
 * const store = await openPostgresAuditStore({ connectionString: "postgres://postgres@127.0.0.1/gatehouse" });
 */
export async function openPostgresAuditStore(options: PostgresAuditStoreOptions): Promise<AuditStore> {
  const schema = options.schema ?? "gatehouse_audit";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new StoreError("store-io", schema, "the schema name must be lowercase letters, digits and underscores");
  }
  if (!options.pool && !options.connectionString) {
    throw new StoreError("store-missing", schema, "give a connection string or a pool");
  }
  const pool = options.pool ?? new (await loadPg()).Pool({ connectionString: options.connectionString, max: 4, connectionTimeoutMillis: 5000 });
  // An idle client's error surfaces on the next query (and the gate denies) instead of crashing the process.
  if (!options.pool) pool.on("error", () => undefined);
  const location = `postgres schema ${schema}`;
  try {
    if (options.readonly) await assertReadable(pool, schema, location);
    else await prepareSchema(pool, schema, location);
  } catch (error) {
    if (!options.pool) await pool.end().catch(() => undefined);
    throw toPgStoreError(error, location);
  }
  return new PostgresAuditStore(pool, schema, location, !options.pool);
}

async function prepareSchema(pool: pg.Pool, schema: string, location: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // Serialise concurrent creators of the same schema.
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`gatehouse:${schema}`]);
    const exists = await client.query("SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'", [schema]);
    if (exists.rowCount === 0) {
      await client.query(`
        CREATE SCHEMA IF NOT EXISTS ${schema};
        CREATE TABLE ${schema}.meta (key text PRIMARY KEY, value text NOT NULL);
        CREATE TABLE ${schema}.records (
          seq bigint PRIMARY KEY CHECK (seq >= 0),
          leaf_hash bytea NOT NULL CHECK (length(leaf_hash) = 32),
          record text NOT NULL
        );
        CREATE TABLE ${schema}.checkpoints (size bigint PRIMARY KEY CHECK (size >= 0), note text NOT NULL, created text NOT NULL);
        CREATE FUNCTION ${schema}.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN RAISE EXCEPTION 'gatehouse audit % are append-only', TG_TABLE_NAME; END $$;
        CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON ${schema}.records FOR EACH ROW EXECUTE FUNCTION ${schema}.append_only();
        CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON ${schema}.records FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.append_only();
        CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON ${schema}.checkpoints FOR EACH ROW EXECUTE FUNCTION ${schema}.append_only();
        CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON ${schema}.checkpoints FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.append_only();
        CREATE TRIGGER meta_append_only BEFORE UPDATE OR DELETE ON ${schema}.meta FOR EACH ROW EXECUTE FUNCTION ${schema}.append_only();
        CREATE TRIGGER meta_no_truncate BEFORE TRUNCATE ON ${schema}.meta FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.append_only();
      `);
      await client.query(`INSERT INTO ${schema}.meta (key, value) VALUES ('application', $1), ('schema_version', $2)`, [APPLICATION, SCHEMA_VERSION]);
    }
    await client.query("COMMIT");
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
  await assertReadable(pool, schema, location);
}

async function assertReadable(pool: pg.Pool, schema: string, location: string): Promise<void> {
  const exists = await pool.query("SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'meta'", [schema]);
  if (exists.rowCount === 0) throw new StoreError("store-missing", location, "no audit log in this schema; check the schema name");
  const rows = await pool.query<{ key: string; value: string }>(`SELECT key, value FROM ${schema}.meta WHERE key IN ('application', 'schema_version')`);
  const meta = new Map(rows.rows.map((r) => [r.key, r.value]));
  if (meta.get("application") !== APPLICATION) {
    throw new StoreError("store-foreign", location, "this schema is not a Gatehouse audit log; choose another schema");
  }
  if (meta.get("schema_version") !== SCHEMA_VERSION) {
    throw new StoreError("store-version", location, `the audit schema has version ${String(meta.get("schema_version"))}, this Gatehouse reads ${SCHEMA_VERSION}`);
  }
}

/** Maps PostgreSQL (SQLSTATE) and connection errors to StoreError codes. */
function toPgStoreError(error: unknown, location: string): StoreError {
  if (error instanceof StoreError) return error;
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  const detail = error instanceof Error ? error.message : String(error);
  const options = { cause: error };
  if (code === "53100" || code === "53200" || code === "54000") return new StoreError("store-full", location, `the database is out of space (${detail})`, options);
  if (code === "23505" || code === "23514") return new StoreError("store-conflict", location, `a write conflicted with what is stored (${detail}); is another process writing this log?`, options);
  if (code === "3D000" || code === "ECONNREFUSED" || code === "ENOTFOUND") return new StoreError("store-missing", location, `the database cannot be reached (${detail})`, options);
  if (code === "25006" || code === "42501") return new StoreError("store-readonly", location, `the database refuses writes (${detail})`, options);
  if (code === "40001" || code === "40P01" || code === "55P03") return new StoreError("store-busy", location, `the database is busy (${detail})`, options);
  if (code === "XX001" || code === "XX002") return new StoreError("store-corrupt", location, `the database reports corruption (${detail})`, options);
  return new StoreError("store-io", location, `the database cannot be read or written (${detail})`, options);
}

class PostgresAuditStore implements AuditStore {
  readonly location: string;
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #ownsPool: boolean;

  constructor(pool: pg.Pool, schema: string, location: string, ownsPool: boolean) {
    this.#pool = pool;
    this.#schema = schema;
    this.location = location;
    this.#ownsPool = ownsPool;
  }

  async #query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    try {
      return await this.#pool.query<R>(text, values);
    } catch (error) {
      throw toPgStoreError(error, this.location);
    }
  }

  async origin(): Promise<string | undefined> {
    const result = await this.#query<{ value: string }>(`SELECT value FROM ${this.#schema}.meta WHERE key = 'origin'`);
    return result.rows[0]?.value;
  }

  async setOrigin(origin: string): Promise<void> {
    await this.#query(`INSERT INTO ${this.#schema}.meta (key, value) VALUES ('origin', $1)`, [origin]);
  }

  async nextSeq(): Promise<number> {
    const result = await this.#query<{ m: string | null }>(`SELECT max(seq)::text AS m FROM ${this.#schema}.records`);
    const m = result.rows[0]?.m;
    return m === null || m === undefined ? 0 : Number(m) + 1;
  }

  async appendRecords(records: readonly NewAuditRecord[]): Promise<void> {
    if (records.length === 0) return;
    // One statement: atomic without an explicit transaction.
    await this.#query(
      `INSERT INTO ${this.#schema}.records (seq, leaf_hash, record) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[])`,
      [records.map((r) => r.seq), records.map((r) => Buffer.from(r.leafHash)), records.map((r) => r.record)],
    );
  }

  async appendCheckpoint(checkpoint: StoredCheckpoint): Promise<void> {
    await this.#query(`INSERT INTO ${this.#schema}.checkpoints (size, note, created) VALUES ($1, $2, $3)`, [checkpoint.size, checkpoint.note, checkpoint.created]);
  }

  async appendLocked(knownSize: number, work: (changes: StoreChanges) => StoreAppend): Promise<void> {
    const t = this.#schema;
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw toPgStoreError(error, this.location);
    }
    let workFailed = false;
    let broken: Error | undefined;
    try {
      // Waiting longer than 5 s for the lock fails with 55P03 (`store-busy`): nothing is written.
      // READ COMMITTED whatever the database's default (under REPEATABLE READ the snapshot would
      // predate the lock and miss the previous holder's records); durable commits whatever the
      // role's synchronous_commit; a writer that freezes holding the lock loses it in 10 s.
      await client.query(
        "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '5s'; SET LOCAL synchronous_commit = on; SET LOCAL idle_in_transaction_session_timeout = '10s'; SET LOCAL statement_timeout = '10s'",
      );
      // One writer at a time for this schema, until COMMIT or ROLLBACK; under READ COMMITTED
      // every statement after it sees what the previous holder committed.
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`gatehouse:${t}:append`]);
      const max = await client.query<{ m: string | null }>(`SELECT max(seq)::text AS m FROM ${t}.records`);
      const m = max.rows[0]?.m;
      const size = m === null || m === undefined ? 0 : Number(m) + 1;
      // Qualified names: a bare `ORDER BY seq` would sort by the text output column (…, "10", "9").
      const leaves =
        size > knownSize
          ? (
              await client.query<{ seq: string; leaf_hash: Buffer; record: string }>(`SELECT seq::text, leaf_hash, record FROM ${t}.records WHERE records.seq >= $1 ORDER BY records.seq`, [knownSize])
            ).rows.map((r) => ({ seq: Number(r.seq), leafHash: r.leaf_hash, record: r.record }))
          : [];
      const checkpoints = (
        await client.query<{ size: string; note: string; created: string }>(`SELECT size::text, note, created FROM ${t}.checkpoints WHERE checkpoints.size >= $1 ORDER BY checkpoints.size`, [knownSize])
      ).rows.map((r) => ({ size: Number(r.size), note: r.note, created: r.created }));
      let out: StoreAppend;
      try {
        out = work({ size, leaves, checkpoints });
      } catch (error) {
        workFailed = true;
        throw error;
      }
      const records = out.records ?? [];
      if (records.length > 0) {
        await client.query(`INSERT INTO ${t}.records (seq, leaf_hash, record) SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[])`, [
          records.map((r) => r.seq),
          records.map((r) => Buffer.from(r.leafHash)),
          records.map((r) => r.record),
        ]);
      }
      if (out.checkpoint) {
        await client.query(`INSERT INTO ${t}.checkpoints (size, note, created) VALUES ($1, $2, $3)`, [out.checkpoint.size, out.checkpoint.note, out.checkpoint.created]);
      }
      await client.query("COMMIT");
    } catch (error) {
      // A connection that cannot even roll back is not given back to the pool.
      await client.query("ROLLBACK").catch((rollbackError: unknown) => {
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      });
      throw workFailed ? error : toPgStoreError(error, this.location);
    } finally {
      client.release(broken);
    }
  }

  async *#pages<R extends pg.QueryResultRow & { seq: string }, T>(select: string, from: number, to: number, pageSize: number, map: (row: R) => T): AsyncIterable<T[]> {
    let next = from;
    for (;;) {
      const result = await this.#query<R>(`SELECT ${select} FROM ${this.#schema}.records WHERE records.seq >= $1 AND records.seq < $2 ORDER BY records.seq LIMIT $3`, [next, to, pageSize]);
      if (result.rows.length === 0) return;
      yield result.rows.map(map);
      const last = result.rows[result.rows.length - 1];
      if (!last || result.rows.length < pageSize) return;
      next = Number(last.seq) + 1;
    }
  }

  readRecords(from: number, to: number, pageSize = 4096): AsyncIterable<readonly StoredAuditRecord[]> {
    return this.#pages<{ seq: string; leaf_hash: Buffer; record: string }, StoredAuditRecord>("seq::text, leaf_hash, record", from, to, pageSize, (r) => ({
      seq: Number(r.seq),
      leafHash: r.leaf_hash,
      record: r.record,
    }));
  }

  readRecordBytes(from: number, to: number, pageSize = 4096): AsyncIterable<readonly StoredRecordBytes[]> {
    return this.#pages<{ seq: string; leaf_hash: Buffer; bytes: Buffer }, StoredRecordBytes>(
      "seq::text, leaf_hash, convert_to(record, 'UTF8') AS bytes",
      from,
      to,
      pageSize,
      (r) => ({ seq: Number(r.seq), leafHash: r.leaf_hash, bytes: r.bytes }),
    );
  }

  readLeafHashes(from: number, to: number, pageSize = 16384): AsyncIterable<readonly StoredLeafHash[]> {
    return this.#pages<{ seq: string; leaf_hash: Buffer }, StoredLeafHash>("seq::text, leaf_hash", from, to, pageSize, (r) => ({
      seq: Number(r.seq),
      leafHash: r.leaf_hash,
    }));
  }

  async readCheckpoints(options: { readonly latest?: boolean } = {}): Promise<readonly StoredCheckpoint[]> {
    const order = options.latest ? "ORDER BY checkpoints.size DESC LIMIT 1" : "ORDER BY checkpoints.size";
    const result = await this.#query<{ size: string; note: string; created: string }>(`SELECT size::text, note, created FROM ${this.#schema}.checkpoints ${order}`);
    return result.rows.map((r) => ({ size: Number(r.size), note: r.note, created: r.created }));
  }

  async close(): Promise<void> {
    if (this.#ownsPool) await this.#pool.end();
  }
}

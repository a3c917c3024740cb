import pg from "pg";
import { classifySql, type ClassifiedStatement, type SqlClassification } from "./classify.js";
import { parseSqlArgs, type SqlArgs } from "./args.js";
import { DryRunError } from "./errors.js";
import type { RowChange, SqlPreview, StatementPreview, TableChange } from "./preview.js";
import type { SqlTool } from "./sqlite.js";

/** Options for {@link createPostgresSqlTool}. */
export interface PostgresSqlToolOptions {
  readonly connectionString?: string;
  /** An existing pool (the caller closes it). */
  readonly pool?: pg.Pool;
  /** Rows of before/after shown per statement; default 50. */
  readonly maxDiffRows?: number;
  /** Rows a read returns; default 1000. */
  readonly maxReadRows?: number;
  /** Most tables the preview puts capture triggers on; default 500. */
  readonly maxTables?: number;
}

/** Captures every row change as JSON into a temp table; created per preview, gone at rollback. */
const CAPTURE_FUNCTION = `CREATE FUNCTION pg_temp.gatehouse_capture() RETURNS trigger LANGUAGE plpgsql AS $gh$
BEGIN
  INSERT INTO pg_temp.gatehouse_changes (tbl, op, old, new) VALUES (
    TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME, lower(TG_OP),
    CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
    CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
  RETURN NULL;
END $gh$`;

/**
 * The built-in SQL tool for PostgreSQL (pg). `dryRun` runs the statements in a transaction with
 * temporary row triggers on every user table (so cascades and triggers' own writes show), collects
 * rows affected, a bounded before/after diff and DDL's effect on the tables it names, then rolls
 * back — DDL included, since PostgreSQL DDL is transactional. Reads run in a READ ONLY transaction.
 *
 * The preview's triggers need the privilege to create triggers on the tables (their owner); without
 * it the preview fails and nothing runs.
 *
 * @example
 * const sql = createPostgresSqlTool({ connectionString: "postgres://app@127.0.0.1/shop" });
 */
export function createPostgresSqlTool(options: PostgresSqlToolOptions): SqlTool {
  const maxDiffRows = options.maxDiffRows ?? 50;
  const maxReadRows = options.maxReadRows ?? 1000;
  const maxTables = options.maxTables ?? 500;
  const ownPool = options.pool === undefined;
  const pool = options.pool ?? new pg.Pool({ connectionString: options.connectionString, max: 4, connectionTimeoutMillis: 5000 });
  if (ownPool) pool.on("error", () => undefined);

  async function execute(client: pg.PoolClient, statements: readonly ClassifiedStatement[], params: SqlArgs["params"], capture: boolean): Promise<StatementPreview[]> {
    if (params !== undefined && (statements.length > 1 || !Array.isArray(params))) {
      throw new DryRunError("sql-args-invalid", "args.params: PostgreSQL takes positional parameters ($1, $2, …) with a single statement");
    }
    const previews: StatementPreview[] = [];
    let seq = 0;
    for (const statement of statements) {
      const ddl = statement.class === "ddl";
      const before = ddl ? await Promise.all(statement.tables.map((t) => tableState(client, t))) : [];
      let result: pg.QueryResult;
      try {
        await client.query("SAVEPOINT gatehouse_statement");
        result = await client.query(statement.sql, params as unknown[] | undefined);
        await client.query("RELEASE SAVEPOINT gatehouse_statement");
      } catch (error) {
        throw new DryRunError("sql-failed", `\`${statement.sql.slice(0, 200)}\`: ${(error as Error).message}`, { cause: error });
      }
      let changes: RowChange[] = [];
      let total = 0;
      if (capture) {
        const rows = await client.query<{ seq: string; tbl: string; op: string; old: Record<string, unknown> | null; new: Record<string, unknown> | null }>(
          "SELECT seq, tbl, op, old, new FROM pg_temp.gatehouse_changes WHERE seq > $1 ORDER BY seq",
          [seq],
        );
        total = rows.rows.length;
        const last = rows.rows.at(-1);
        if (last) seq = Number(last.seq);
        changes = rows.rows.slice(0, maxDiffRows).map((r) => ({
          table: r.tbl,
          op: r.op as RowChange["op"],
          ...(r.old === null ? {} : { before: r.old }),
          ...(r.new === null ? {} : { after: r.new }),
        }));
      }
      let tables: TableChange[] | undefined;
      if (ddl) {
        tables = [];
        for (const b of before) {
          const a = await tableState(client, b.table);
          tables.push({ table: b.table, existedBefore: b.exists, existsAfter: a.exists, rowsBefore: b.rows, rowsAfter: a.rows, columnsBefore: b.columns, columnsAfter: a.columns });
        }
      }
      const isRead = statement.class === "read";
      previews.push({
        sql: statement.sql,
        class: statement.class,
        rowsAffected: ddl && tables ? tables.reduce((sum, t) => sum + Math.abs(t.rowsBefore - t.rowsAfter), 0) : isRead ? 0 : (result.rowCount ?? 0),
        changes,
        changesTruncated: total > maxDiffRows,
        ...(tables ? { tables } : {}),
        ...(isRead ? { rows: result.rows.slice(0, maxReadRows) } : {}),
      });
    }
    return previews;
  }

  async function installCapture(client: pg.PoolClient): Promise<void> {
    await client.query("CREATE TEMP TABLE gatehouse_changes (seq bigserial PRIMARY KEY, tbl text NOT NULL, op text NOT NULL, old jsonb, new jsonb) ON COMMIT DROP");
    await client.query(CAPTURE_FUNCTION);
    const tables = await client.query<{ oid: string }>(
      `SELECT c.oid::regclass::text AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast%'`,
    );
    if (tables.rows.length > maxTables) {
      throw new DryRunError("sql-too-many-tables", `the database has ${tables.rows.length} tables; the preview watches at most ${maxTables} (raise maxTables)`);
    }
    for (const t of tables.rows) {
      await client.query(`CREATE TRIGGER gatehouse_capture AFTER INSERT OR UPDATE OR DELETE ON ${t.oid} FOR EACH ROW EXECUTE FUNCTION pg_temp.gatehouse_capture()`);
    }
  }

  async function withClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw new DryRunError("sql-failed", `cannot reach PostgreSQL: ${(error as Error).message}`, { cause: error });
    }
    try {
      return await fn(client);
    } finally {
      client.release();
    }
  }

  return {
    dialect: "postgres",
    classify: (args) => classifySql(parseSqlArgs(args).sql, "postgres"),
    dryRun: (args) =>
      withClient(async (client) => {
        const { sql, params } = parseSqlArgs(args);
        const classification = classifySql(sql, "postgres");
        await client.query("BEGIN");
        try {
          await installCapture(client);
          const statements = await execute(client, classification.statements, params, true);
          return preview(classification, statements);
        } catch (error) {
          if (error instanceof DryRunError) throw error;
          throw new DryRunError("sql-failed", `the preview failed: ${(error as Error).message}`, { cause: error });
        } finally {
          await client.query("ROLLBACK").catch(() => undefined);
        }
      }),
    run: (args) =>
      withClient(async (client) => {
        const { sql, params } = parseSqlArgs(args);
        const classification = classifySql(sql, "postgres");
        await client.query(classification.class === "read" ? "BEGIN READ ONLY" : "BEGIN");
        let committed = false;
        try {
          const statements = await execute(client, classification.statements, params, false);
          await client.query("COMMIT");
          committed = true;
          return { statements: statements.map((s) => ({ sql: s.sql, rowsAffected: s.rowsAffected, ...(s.rows ? { rows: s.rows } : {}) })) };
        } finally {
          if (!committed) await client.query("ROLLBACK").catch(() => undefined);
        }
      }),
    close: () => (ownPool ? pool.end() : Promise.resolve()),
  };
}

function preview(c: SqlClassification, statements: StatementPreview[]): SqlPreview {
  return { kind: "sql", mode: "transaction", dialect: "postgres", class: c.class, risk: c.risk, irreversible: c.irreversible, statements };
}

async function tableState(client: pg.PoolClient, table: string): Promise<{ table: string; exists: boolean; rows: number; columns: string[] }> {
  const found = await client.query<{ oid: string | null }>("SELECT to_regclass($1)::text AS oid", [table]);
  const oid = found.rows[0]?.oid ?? null;
  if (oid === null) return { table, exists: false, rows: 0, columns: [] };
  const rows = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${oid}`);
  const columns = await client.query<{ attname: string }>(
    "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    [oid],
  );
  return { table, exists: true, rows: Number(rows.rows[0]?.n ?? 0), columns: columns.rows.map((r) => r.attname) };
}

import { randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { canonicalJson, sha256Hex } from "../core/index.js";
import { classifySql, type ClassifiedStatement, type SqlClassification } from "./classify.js";
import { DryRunError } from "./errors.js";
import { parseSqlArgs, type SqlArgs } from "./args.js";
import type { RowChange, SqlPreview, SqlResult, StatementPreview, TableChange } from "./preview.js";

/** Options for {@link createSqliteSqlTool}. */
export interface SqliteSqlToolOptions {
  /** The real database file. */
  readonly file: string;
  /**
   * `transaction` (default): the preview runs the statements in a transaction and rolls back.
   * `sandbox-copy`: the preview runs them on a copy of the file and keeps a plan; `run` applies
   * the change to the real database only if it touches exactly the rows the reviewed preview did.
   */
  readonly mode?: "transaction" | "sandbox-copy";
  /** Where sandbox copies and plans are kept (required for `sandbox-copy`; keep it off the agent's reach). */
  readonly sandboxDir?: string;
  /** Rows of before/after shown per statement; default 50. */
  readonly maxDiffRows?: number;
  /** Rows a read returns; default 1000. */
  readonly maxReadRows?: number;
  /** Most rows a sandbox plan may touch; default 10 000. */
  readonly maxPlanRows?: number;
}

/** The built-in SQL tool for one database: a ToolDefinition (`run`, `dryRun`) plus `classify`. */
export interface SqlTool {
  readonly dialect: "sqlite" | "postgres";
  classify(args: unknown): SqlClassification;
  run(args: SqlArgs): Promise<SqlResult>;
  dryRun(args: SqlArgs): Promise<SqlPreview>;
  close?(): Promise<void>;
}

interface Plan {
  readonly version: 1;
  readonly id: string;
  readonly digest: string;
  readonly changes: readonly PlanChange[];
  readonly tables: readonly TableFingerprint[];
}

interface PlanChange {
  readonly table: string;
  readonly op: string;
  readonly rid: number | null;
  readonly before: string | null;
  readonly after: string | null;
}

interface TableFingerprint {
  readonly table: string;
  readonly hash: string | null;
}

const CAPTURE_TABLE = "temp.gatehouse_changes";

/**
 * The built-in SQL tool for SQLite (better-sqlite3). `dryRun` shows rows affected and a bounded
 * before/after diff of every changed row (captured by temporary triggers on every table, so
 * cascades and triggers' own writes show too) and DDL's effect on the tables it names, then undoes
 * everything. Classification comes first and fails closed (see `classifySql`).
 *
 * @example
 * const sql = createSqliteSqlTool({ file: "shop.db" });
 * const gatehouse = await createGatehouse({ policy });
 * const tools = gatehouse.guard({ run_sql: sql });
 */
export function createSqliteSqlTool(options: SqliteSqlToolOptions): SqlTool {
  const mode = options.mode ?? "transaction";
  const maxDiffRows = options.maxDiffRows ?? 50;
  const maxReadRows = options.maxReadRows ?? 1000;
  const maxPlanRows = options.maxPlanRows ?? 10_000;
  if (mode === "sandbox-copy" && !options.sandboxDir) throw new DryRunError("sql-query-invalid", "sandbox-copy mode needs `sandboxDir`");

  const open = () => {
    const db = new Database(options.file, { fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    return db;
  };
  const classify = (args: unknown) => classifySql(parseSqlArgs(args).sql, "sqlite");

  function execute(db: Database.Database, statements: readonly ClassifiedStatement[], params: SqlArgs["params"], capture: boolean, limit: number) {
    if (params !== undefined && statements.length > 1) throw new DryRunError("sql-args-invalid", "args.params: parameters go with a single statement");
    const previews: StatementPreview[] = [];
    const all: PlanChange[] = [];
    for (const statement of statements) {
      const ddl = statement.class === "ddl";
      if (capture && ddl) dropCapture(db);
      const before = ddl ? statement.tables.map((t) => tableState(db, t)) : [];
      const from = capture ? lastSeq(db) : 0;
      let prepared;
      try {
        prepared = db.prepare(statement.sql);
      } catch (error) {
        throw new DryRunError("sql-failed", `\`${statement.sql.slice(0, 200)}\`: ${(error as Error).message}`, { cause: error });
      }
      if (statement.class === "read" && !prepared.readonly) {
        throw new DryRunError("sql-not-read-only", `\`${statement.sql.slice(0, 200)}\` was classified a read but SQLite says it writes; refused`);
      }
      let rowsAffected = 0;
      let rows: unknown[] | undefined;
      try {
        const bind = params === undefined ? [] : [params];
        if (prepared.reader) {
          rows = [];
          for (const row of prepared.iterate(...bind) as Iterable<unknown>) {
            if (rows.length >= maxReadRows) break;
            rows.push(row);
          }
        } else {
          rowsAffected = prepared.run(...bind).changes;
        }
      } catch (error) {
        throw new DryRunError("sql-failed", `\`${statement.sql.slice(0, 200)}\`: ${(error as Error).message}`, { cause: error });
      }
      let changes: PlanChange[] = [];
      if (capture) {
        changes = readChanges(db, from, limit + 1);
        all.push(...changes.slice(0, limit));
        if (changes.length > limit && limit === maxPlanRows) {
          throw new DryRunError("sql-plan-too-large", `the statements touch more than ${maxPlanRows} rows; too many to review and re-check`);
        }
      }
      let tables: TableChange[] | undefined;
      if (ddl) {
        tables = before.map((b) => {
          const a = tableState(db, b.table);
          return { table: b.table, existedBefore: b.exists, existsAfter: a.exists, rowsBefore: b.rows, rowsAfter: a.rows, columnsBefore: b.columns, columnsAfter: a.columns };
        });
        rowsAffected = tables.reduce((sum, t) => sum + Math.abs(t.rowsBefore - t.rowsAfter), 0);
        if (capture) installCapture(db);
      }
      previews.push({
        sql: statement.sql,
        class: statement.class,
        rowsAffected,
        changes: changes.slice(0, maxDiffRows).map(toRowChange),
        changesTruncated: changes.length > maxDiffRows,
        ...(tables ? { tables } : {}),
        ...(rows ? { rows } : {}),
      });
    }
    return { previews, all };
  }

  function dryRunInTransaction(args: SqlArgs): SqlPreview {
    const { sql, params } = parseSqlArgs(args);
    const classification = classifySql(sql, "sqlite");
    const db = open();
    try {
      db.exec("BEGIN IMMEDIATE");
      try {
        installCapture(db);
        const { previews } = execute(db, classification.statements, params, true, maxDiffRows);
        return preview("transaction", classification, previews);
      } finally {
        db.exec("ROLLBACK");
      }
    } finally {
      db.close();
    }
  }

  const planFile = (digest: string) => join(options.sandboxDir as string, `${digest}.plan.json`);

  async function dryRunOnCopy(args: SqlArgs): Promise<SqlPreview> {
    const { sql, params } = parseSqlArgs(args);
    const classification = classifySql(sql, "sqlite");
    const dir = options.sandboxDir as string;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const copyFile = join(dir, `${randomUUID()}.db`);
    const real = open();
    try {
      // backup() copies pages, so rowids stay exactly as in the real file (VACUUM INTO would not).
      await real.backup(copyFile);
    } finally {
      real.close();
    }
    const copy = new Database(copyFile);
    try {
      copy.exec("BEGIN IMMEDIATE");
      installCapture(copy);
      const fingerprintsBefore = ddlTables(classification).map((t) => ({ table: t, hash: tableHash(copy, t) }));
      const { previews, all } = execute(copy, classification.statements, params, true, maxPlanRows);
      copy.exec("COMMIT");
      const plan: Plan = { version: 1, id: randomUUID(), digest: argsDigest(sql, params), changes: all, tables: fingerprintsBefore };
      writeFileSync(planFile(plan.digest), JSON.stringify(plan), { mode: 0o600 });
      return { ...preview("sandbox-copy", classification, previews), planId: plan.id };
    } finally {
      copy.close();
      rmSync(copyFile, { force: true });
      rmSync(`${copyFile}-wal`, { force: true });
      rmSync(`${copyFile}-shm`, { force: true });
    }
  }

  function applyPlan(args: SqlArgs): SqlResult {
    const { sql, params } = parseSqlArgs(args);
    const classification = classifySql(sql, "sqlite");
    const digest = argsDigest(sql, params);
    let plan: Plan;
    try {
      plan = JSON.parse(readFileSync(planFile(digest), "utf8")) as Plan;
    } catch {
      throw new DryRunError("sql-plan-missing", "no reviewed preview of exactly these statements; preview (dry-run) them and have the change approved first");
    }
    rmSync(planFile(digest), { force: true }); // one plan, one apply: a refusal needs a fresh review
    const db = open();
    try {
      db.exec("BEGIN IMMEDIATE");
      let committed = false;
      try {
        installCapture(db);
        const fingerprints = ddlTables(classification).map((t) => ({ table: t, hash: tableHash(db, t) }));
        const { previews, all } = execute(db, classification.statements, params, true, maxPlanRows);
        const same = canonicalJson(all.map(comparable)) === canonicalJson(plan.changes.map(comparable)) && canonicalJson(fingerprints) === canonicalJson(plan.tables);
        if (!same) {
          throw new DryRunError(
            "sql-rows-changed",
            "the rows these statements touch changed since the reviewed preview; nothing was applied — preview again and ask for a new approval",
          );
        }
        dropCapture(db);
        db.exec("COMMIT");
        committed = true;
        return { statements: previews.map((p) => ({ sql: p.sql, rowsAffected: p.rowsAffected, ...(p.rows ? { rows: p.rows } : {}) })) };
      } finally {
        if (!committed) db.exec("ROLLBACK");
      }
    } finally {
      db.close();
    }
  }

  function runDirect(args: SqlArgs): SqlResult {
    const { sql, params } = parseSqlArgs(args);
    const classification = classifySql(sql, "sqlite");
    const db = open();
    try {
      db.exec("BEGIN IMMEDIATE");
      let committed = false;
      try {
        const { previews } = execute(db, classification.statements, params, false, 0);
        db.exec("COMMIT");
        committed = true;
        return { statements: previews.map((p) => ({ sql: p.sql, rowsAffected: p.rowsAffected, ...(p.rows ? { rows: p.rows } : {}) })) };
      } finally {
        if (!committed) db.exec("ROLLBACK");
      }
    } finally {
      db.close();
    }
  }

  return {
    dialect: "sqlite",
    classify,
    // better-sqlite3 is synchronous; errors still arrive as rejections, never as throws.
    run: (args) => Promise.resolve().then(() => (mode === "sandbox-copy" ? applyPlan(args) : runDirect(args))),
    dryRun: (args) => (mode === "sandbox-copy" ? dryRunOnCopy(args) : Promise.resolve().then(() => dryRunInTransaction(args))),
  };
}

function preview(mode: SqlPreview["mode"], c: SqlClassification, statements: StatementPreview[]): SqlPreview {
  return { kind: "sql", mode, dialect: "sqlite", class: c.class, risk: c.risk, irreversible: c.irreversible, statements };
}

function argsDigest(sql: string, params: unknown): string {
  return sha256Hex(canonicalJson({ params: params ?? null, sql }));
}

function comparable(c: PlanChange): unknown {
  // An inserted row's rowid may legitimately differ; its values (including an INTEGER PRIMARY KEY) may not.
  return { table: c.table, op: c.op, rid: c.op === "insert" ? null : c.rid, before: c.before, after: c.after };
}

function ddlTables(c: SqlClassification): string[] {
  return [...new Set(c.statements.filter((s) => s.class === "ddl").flatMap((s) => s.tables))];
}

const quoteId = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteText = (text: string) => `'${text.replace(/'/g, "''")}'`;

function userTables(db: Database.Database): { name: string; withoutRowid: boolean }[] {
  const rows = db.prepare("SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite_%'").all() as {
    name: string;
    wr: number;
  }[];
  return rows.map((r) => ({ name: r.name, withoutRowid: r.wr === 1 }));
}

function columnsOf(db: Database.Database, table: string): string[] {
  return (db.prepare("SELECT name FROM pragma_table_info(?, 'main')").all(table) as { name: string }[]).map((r) => r.name);
}

function rowJson(prefix: string, columns: readonly string[]): string {
  // JSON cannot hold BLOBs: they are shown as x'hex'.
  const pairs = columns.map((c) => `${quoteText(c)}, CASE WHEN typeof(${prefix}.${quoteId(c)}) = 'blob' THEN 'x''' || hex(${prefix}.${quoteId(c)}) || '''' ELSE ${prefix}.${quoteId(c)} END`);
  return `json_object(${pairs.join(", ")})`;
}

/** Temporary triggers on every table log each row change (old and new values) into a temp table. */
function installCapture(db: Database.Database): void {
  db.exec(`CREATE TEMP TABLE IF NOT EXISTS gatehouse_changes (seq INTEGER PRIMARY KEY, tbl TEXT NOT NULL, op TEXT NOT NULL, rid INTEGER, old TEXT, new TEXT)`);
  userTables(db).forEach((t, i) => {
    const cols = columnsOf(db, t.name);
    const rid = (p: string) => (t.withoutRowid ? "NULL" : `${p}.rowid`);
    const on = `main.${quoteId(t.name)}`;
    const name = quoteText(t.name);
    db.exec(`CREATE TEMP TRIGGER gatehouse_i${i} AFTER INSERT ON ${on} BEGIN
      INSERT INTO ${CAPTURE_TABLE} (tbl, op, rid, new) VALUES (${name}, 'insert', ${rid("NEW")}, ${rowJson("NEW", cols)}); END`);
    db.exec(`CREATE TEMP TRIGGER gatehouse_u${i} AFTER UPDATE ON ${on} BEGIN
      INSERT INTO ${CAPTURE_TABLE} (tbl, op, rid, old, new) VALUES (${name}, 'update', ${rid("OLD")}, ${rowJson("OLD", cols)}, ${rowJson("NEW", cols)}); END`);
    db.exec(`CREATE TEMP TRIGGER gatehouse_d${i} AFTER DELETE ON ${on} BEGIN
      INSERT INTO ${CAPTURE_TABLE} (tbl, op, rid, old) VALUES (${name}, 'delete', ${rid("OLD")}, ${rowJson("OLD", cols)}); END`);
  });
}

function dropCapture(db: Database.Database): void {
  const triggers = db.prepare("SELECT name FROM sqlite_temp_schema WHERE type = 'trigger' AND name LIKE 'gatehouse_%'").all() as { name: string }[];
  for (const t of triggers) db.exec(`DROP TRIGGER temp.${quoteId(t.name)}`);
}

function lastSeq(db: Database.Database): number {
  return (db.prepare(`SELECT coalesce(max(seq), 0) AS s FROM ${CAPTURE_TABLE}`).get() as { s: number }).s;
}

function readChanges(db: Database.Database, from: number, limit: number): PlanChange[] {
  return (db.prepare(`SELECT tbl, op, rid, old, new FROM ${CAPTURE_TABLE} WHERE seq > ? ORDER BY seq LIMIT ?`).all(from, limit) as {
    tbl: string;
    op: string;
    rid: number | null;
    old: string | null;
    new: string | null;
  }[]).map((r) => ({ table: r.tbl, op: r.op, rid: r.rid, before: r.old, after: r.new }));
}

function toRowChange(c: PlanChange): RowChange {
  return {
    table: c.table,
    op: c.op as RowChange["op"],
    ...(c.before === null ? {} : { before: JSON.parse(c.before) as Record<string, unknown> }),
    ...(c.after === null ? {} : { after: JSON.parse(c.after) as Record<string, unknown> }),
  };
}

function tableState(db: Database.Database, table: string): { table: string; exists: boolean; rows: number; columns: string[] } {
  const exists = db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND lower(name) = lower(?)").get(table) !== undefined;
  if (!exists) return { table, exists, rows: 0, columns: [] };
  const rows = (db.prepare(`SELECT count(*) AS n FROM main.${quoteId(table)}`).get() as { n: number }).n;
  return { table, exists, rows, columns: columnsOf(db, table) };
}

/** SHA-256 over a table's rows in rowid order: detects any change to a table DDL is about to drop or alter. */
function tableHash(db: Database.Database, table: string): string | null {
  if (db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND lower(name) = lower(?)").get(table) === undefined) return null;
  const cols = columnsOf(db, table);
  const hash = sha256Hex(
    (db.prepare(`SELECT ${rowJson("t", cols)} AS j FROM main.${quoteId(table)} AS t ORDER BY rowid`).all() as { j: string }[]).map((r) => r.j).join("\n"),
  );
  return hash;
}

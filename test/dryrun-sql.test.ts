import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMemoryAuditLog } from "../src/audit/index.js";
import {
  classifySql,
  createPostgresSqlTool,
  createSqliteSqlTool,
  defineSqlQueries,
  dryRunModeCheck,
  DryRunError,
  sqlClassCheck,
  type DryRunErrorCode,
  type SqlTool,
} from "../src/dryrun/index.js";
import { createGate } from "../src/gate/index.js";
import { createGatehouse, guardTools } from "../src/integrations/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { PG_URL, tempDir } from "./approvals-helpers.js";

async function refusedWith(promise: Promise<unknown> | (() => unknown), code: DryRunErrorCode): Promise<DryRunError> {
  const error = await (typeof promise === "function" ? Promise.resolve().then(promise) : promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DryRunError);
  expect((error as DryRunError).code).toBe(code);
  return error as DryRunError;
}

function shopFile(rows = 3): string {
  const file = join(tempDir("gatehouse-dryrun-"), "shop.db");
  const db = new Database(file);
  db.exec(`CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT NOT NULL, total REAL NOT NULL, status TEXT NOT NULL DEFAULT 'open', photo BLOB);
           CREATE TABLE log (id INTEGER PRIMARY KEY, message TEXT);
           CREATE TRIGGER orders_log AFTER DELETE ON orders BEGIN INSERT INTO log (message) VALUES ('deleted ' || OLD.id); END;`);
  const insert = db.prepare("INSERT INTO orders (customer, total, photo) VALUES (?, ?, ?)");
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) insert.run(`c${i}`, i * 10, i === 1 ? Buffer.from([0xde, 0xad]) : null);
  })();
  db.close();
  return file;
}

const rowsOf = (file: string, sql = "SELECT * FROM orders ORDER BY id") => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
};

describe("classifying SQL", () => {
  it.each([
    ["SELECT * FROM orders WHERE id = 1", "sqlite", "read", "read-only", false],
    ["INSERT INTO orders (customer, total) VALUES ('a', 1)", "sqlite", "write", "low-risk-write", false],
    ["UPDATE orders SET status = 'x' WHERE id = 2", "sqlite", "write", "low-risk-write", false],
    ["UPDATE orders SET status = 'x'", "sqlite", "write", "high-risk-write", false],
    ["DELETE FROM orders", "postgres", "write", "high-risk-write", false],
    ["DROP TABLE orders", "sqlite", "ddl", "high-risk-write", true],
    ["TRUNCATE orders", "postgres", "ddl", "high-risk-write", true],
    ["ALTER TABLE orders ADD COLUMN note TEXT", "sqlite", "ddl", "high-risk-write", false],
    ["SELECT 1; DELETE FROM orders WHERE id = 3", "sqlite", "write", "low-risk-write", false],
    ["SELECT ';'; SELECT 2", "sqlite", "read", "read-only", false],
  ] as const)("`%s` (%s) is %s, %s", (sql, dialect, cls, risk, irreversible) => {
    expect(classifySql(sql, dialect)).toMatchObject({ class: cls, risk, irreversible });
  });

  it.each([
    ["nothing", "", "sqlite", "sql-empty"],
    ["only semicolons", "  ;  ; ", "sqlite", "sql-empty"],
    ["PRAGMA", "PRAGMA writable_schema = 1", "sqlite", "sql-unparsable"],
    ["ATTACH", "ATTACH DATABASE '/etc/x' AS x", "sqlite", "sql-unclassified"],
    ["transaction control", "BEGIN", "postgres", "sql-unclassified"],
    ["a read that ends sessions", "SELECT pg_terminate_backend(42)", "postgres", "sql-unclassified"],
    ["a read that loads an extension", "SELECT load_extension('evil')", "sqlite", "sql-unclassified"],
    ["a write hidden in a CTE", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", "postgres", "sql-unparsable"],
    ["100 001 characters", "x".repeat(100_001), "sqlite", "sql-too-long"],
  ] as const)("refuses %s rather than guess", async (_what, sql, dialect, code) => {
    await refusedWith(() => classifySql(sql, dialect), code);
  });
});

describe("SQLite dry-run in a rolled-back transaction", () => {
  it("previews an insert: the new row, and nothing is written", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file });
    const before = rowsOf(file);
    const preview = await tool.dryRun({ sql: "INSERT INTO orders (customer, total) VALUES ('zoe', 99.5)" });
    expect(preview).toMatchObject({ kind: "sql", mode: "transaction", class: "write", risk: "low-risk-write" });
    expect(preview.statements[0]).toMatchObject({
      rowsAffected: 1,
      changes: [{ table: "orders", op: "insert", after: { id: 4, customer: "zoe", total: 99.5, status: "open", photo: null } }],
      changesTruncated: false,
    });
    expect(rowsOf(file)).toEqual(before);
  });

  it("previews an update: before and after of each changed row, BLOBs as hex", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file });
    const preview = await tool.dryRun({ sql: "UPDATE orders SET status = 'refunded' WHERE total <= ?", params: [20] });
    expect(preview.statements[0]?.rowsAffected).toBe(2);
    expect(preview.statements[0]?.changes).toEqual([
      { table: "orders", op: "update", before: { id: 1, customer: "c1", total: 10, status: "open", photo: "x'DEAD'" }, after: { id: 1, customer: "c1", total: 10, status: "refunded", photo: "x'DEAD'" } },
      { table: "orders", op: "update", before: { id: 2, customer: "c2", total: 20, status: "open", photo: null }, after: { id: 2, customer: "c2", total: 20, status: "refunded", photo: null } },
    ]);
    expect(rowsOf(file, "SELECT status FROM orders")).toEqual([{ status: "open" }, { status: "open" }, { status: "open" }]);
  });

  it("previews a delete, including the rows a trigger writes as a consequence", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file });
    const preview = await tool.dryRun({ sql: "DELETE FROM orders WHERE id = 3" });
    expect(preview.statements[0]?.rowsAffected).toBe(1);
    expect(preview.statements[0]?.changes).toEqual([
      { table: "orders", op: "delete", before: { id: 3, customer: "c3", total: 30, status: "open", photo: null } },
      { table: "log", op: "insert", after: { id: 1, message: "deleted 3" } },
    ]);
    expect(rowsOf(file)).toHaveLength(3);
    expect(rowsOf(file, "SELECT * FROM log")).toEqual([]);
  });

  it("bounds the diff and says so", async () => {
    const file = shopFile(120);
    const tool = createSqliteSqlTool({ file, maxDiffRows: 5 });
    const preview = await tool.dryRun({ sql: "UPDATE orders SET total = total * 2" });
    expect(preview.risk).toBe("high-risk-write");
    expect(preview.statements[0]).toMatchObject({ rowsAffected: 120, changesTruncated: true });
    expect(preview.statements[0]?.changes).toHaveLength(5);
  });

  it("previews DDL: DROP shows the rows and columns that would go; ALTER shows the new columns; nothing changes", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file });
    const drop = await tool.dryRun({ sql: "DROP TABLE orders" });
    expect(drop).toMatchObject({ class: "ddl", risk: "high-risk-write", irreversible: true });
    expect(drop.statements[0]).toMatchObject({
      rowsAffected: 3,
      tables: [{ table: "orders", existedBefore: true, existsAfter: false, rowsBefore: 3, rowsAfter: 0, columnsBefore: ["id", "customer", "total", "status", "photo"], columnsAfter: [] }],
    });
    const alter = await tool.dryRun({ sql: "ALTER TABLE orders ADD COLUMN note TEXT; UPDATE orders SET note = 'x' WHERE id = 1" });
    expect(alter.statements[0]?.tables?.[0]).toMatchObject({ columnsAfter: ["id", "customer", "total", "status", "photo", "note"] });
    expect(alter.statements[1]?.changes[0]).toMatchObject({ op: "update", after: { note: "x" } });
    expect(rowsOf(file)).toHaveLength(3);
    expect(rowsOf(file, "SELECT name FROM pragma_table_info('orders')")).toHaveLength(5);
  });

  it("runs for real with `run`, in one transaction: a failing statement leaves nothing behind", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file });
    expect(await tool.run({ sql: "UPDATE orders SET status = 'paid' WHERE id = 1" })).toEqual({ statements: [{ sql: "UPDATE orders SET status = 'paid' WHERE id = 1", rowsAffected: 1 }] });
    await refusedWith(tool.run({ sql: "DELETE FROM orders WHERE id = 2; INSERT INTO orders (id, customer, total) VALUES (1, 'dup', 1)" }), "sql-failed");
    expect(rowsOf(file)).toHaveLength(3);
    expect((await tool.run({ sql: "SELECT id FROM orders WHERE status = 'paid'" })).statements[0]?.rows).toEqual([{ id: 1 }]);
  });
});

describe("SQLite sandbox-copy mode", () => {
  it("previews on a copy, then applies to the real file when the rows are unchanged", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file, mode: "sandbox-copy", sandboxDir: tempDir("gatehouse-sandbox-") });
    const args = { sql: "UPDATE orders SET status = 'refunded' WHERE id = 2" };
    const preview = await tool.dryRun(args);
    expect(preview).toMatchObject({ mode: "sandbox-copy", planId: expect.any(String) as string });
    expect(preview.statements[0]?.changes[0]).toMatchObject({ before: { status: "open" }, after: { status: "refunded" } });
    expect(rowsOf(file, "SELECT status FROM orders WHERE id = 2")).toEqual([{ status: "open" }]);
    await tool.run(args);
    expect(rowsOf(file, "SELECT status FROM orders WHERE id = 2")).toEqual([{ status: "refunded" }]);
    await refusedWith(tool.run(args), "sql-plan-missing"); // one review, one apply
  });

  it.each([
    ["a touched row changed", "UPDATE orders SET total = 999 WHERE id = 2"],
    ["a new row now matches the WHERE", "INSERT INTO orders (customer, total) VALUES ('late', 15)"],
    ["a touched row was deleted", "DELETE FROM orders WHERE id = 2"],
  ])("refuses to apply when %s since the review, and changes nothing", async (_what, concurrent) => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file, mode: "sandbox-copy", sandboxDir: tempDir("gatehouse-sandbox-") });
    const args = { sql: "UPDATE orders SET status = 'refunded' WHERE total BETWEEN 11 AND 20" };
    await tool.dryRun(args);
    const db = new Database(file);
    db.exec(concurrent);
    db.close();
    const snapshot = rowsOf(file);
    const error = await refusedWith(tool.run(args), "sql-rows-changed");
    expect(error.message).toContain("preview again");
    expect(rowsOf(file)).toEqual(snapshot);
  });

  it("refuses a DROP whose table changed since the review", async () => {
    const file = shopFile();
    const tool = createSqliteSqlTool({ file, mode: "sandbox-copy", sandboxDir: tempDir("gatehouse-sandbox-") });
    await tool.dryRun({ sql: "DROP TABLE orders" });
    const db = new Database(file);
    db.exec("INSERT INTO orders (customer, total) VALUES ('new', 1)");
    db.close();
    await refusedWith(tool.run({ sql: "DROP TABLE orders" }), "sql-rows-changed");
    expect(rowsOf(file)).toHaveLength(4);
  });

  it("refuses to run without a reviewed preview", async () => {
    const tool = createSqliteSqlTool({ file: shopFile(), mode: "sandbox-copy", sandboxDir: tempDir("gatehouse-sandbox-") });
    await refusedWith(tool.run({ sql: "DELETE FROM orders WHERE id = 1" }), "sql-plan-missing");
  });
});

describe("SQL in the gate", () => {
  const policy = parsePolicy(`
version: 1
agents: { bot: { owner: o, environment: production }, tester: { owner: o, environment: staging } }
tools:
  run_sql: { risk: low-risk-write, args: { type: object, required: [sql], properties: { sql: { type: string } } } }
`);

  it.each([
    ["SELECT * FROM orders", "allow", "allowed-by-default", "read-only"],
    ["DELETE FROM orders WHERE id = 1", "allow", "allowed-by-default", "low-risk-write"],
    ["INSERT INTO orders (customer, total) VALUES ('a', 1)", "allow", "allowed-by-default", "low-risk-write"],
    ["DELETE FROM orders", "ask", "asked-by-sql-class", "high-risk-write"],
    ["DROP TABLE orders", "ask", "asked-by-sql-class", "high-risk-write"],
    ["PRAGMA writable_schema = 1", "deny", "sql-unclassified", undefined],
  ])("`%s` → %s (%s)", async (sql, verdict, code, risk) => {
    const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [sqlClassCheck({ run_sql: "sqlite" })] });
    const { decision } = await gate.decide({ agent: "bot", tool: "run_sql", args: { sql } });
    expect(decision).toMatchObject({ verdict, code });
    if (risk) expect(decision.risk).toBe(risk);
  });

  it("in dry-run mode, a write runs its preview and the agent is told; a read runs", async () => {
    const file = shopFile();
    const sql = createSqliteSqlTool({ file });
    const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [sqlClassCheck({ run_sql: "sqlite" }), dryRunModeCheck({ environments: ["staging"] })] });
    const tools = guardTools(gate, { run_sql: sql }, { agent: "tester" });
    const write = await tools.run_sql({ sql: "DELETE FROM orders WHERE id = 1" });
    expect(write).toMatchObject({ status: "dry-run", preview: { statements: [{ rowsAffected: 1 }] } });
    expect((write as { message: string }).message).toContain("dry run");
    expect(rowsOf(file)).toHaveLength(3);
    expect(await tools.run_sql({ sql: "SELECT count(*) AS n FROM orders" })).toMatchObject({ status: "ok" });
  });

  it("a tool without a preview is not run in dry-run mode", async () => {
    const p = parsePolicy(`
version: 1
agents: { bot: { owner: o, environment: staging } }
tools: { wipe: { risk: high-risk-write, args: { type: object } } }
defaults: { high-risk-write: allow }
`);
    const ran: string[] = [];
    const gatehouse = await createGatehouse({ policy: p, dryRunMode: { runs: ["run-1"] } });
    const tools = gatehouse.guard({ wipe: () => ran.push("wiped") }, { run: "run-1" });
    expect(await tools.wipe({})).toMatchObject({ status: "dry-run" });
    expect(ran).toEqual([]);
    const other = gatehouse.guard({ wipe: () => ran.push("wiped") }, { run: "run-2" });
    expect(await other.wipe({})).toMatchObject({ status: "ok" });
  });
});

describe("named, parameterised queries", () => {
  it("classifies each query at definition and binds only scalar values", async () => {
    const file = shopFile();
    const { tools, policy } = defineSqlQueries(createSqliteSqlTool({ file }), {
      refund_order: { sql: "UPDATE orders SET status = 'refunded' WHERE id = ?", params: ["order_id"], description: "refund one order" },
      open_orders: { sql: "SELECT id FROM orders WHERE status = 'open'" },
      purge: { sql: "DELETE FROM orders" },
    });
    expect(policy.refund_order).toMatchObject({ risk: "low-risk-write", args: { required: ["order_id"], additionalProperties: false } });
    expect(policy.open_orders?.risk).toBe("read-only");
    expect(policy.purge?.risk).toBe("high-risk-write");
    expect((await tools.refund_order!.dryRun({ order_id: 2 })).statements[0]?.rowsAffected).toBe(1);
    await tools.refund_order!.run({ order_id: "2 OR 1=1" }); // bound as a value: matches no id
    expect(rowsOf(file, "SELECT count(*) AS n FROM orders WHERE status = 'refunded'")).toEqual([{ n: 0 }]);
    await refusedWith(tools.refund_order!.run({ order_id: 2, extra: 1 }), "sql-args-invalid");
    await refusedWith(tools.refund_order!.run({ order_id: { $gt: 0 } }), "sql-args-invalid");
    await refusedWith(tools.refund_order!.run({}), "sql-args-invalid");
  });

  it("refuses at definition a query it cannot classify or that is not one statement", async () => {
    const tool = createSqliteSqlTool({ file: shopFile() });
    await refusedWith(() => defineSqlQueries(tool, { bad: { sql: "PRAGMA x = 1" } }), "sql-query-invalid");
    await refusedWith(() => defineSqlQueries(tool, { two: { sql: "SELECT 1; SELECT 2" } }), "sql-query-invalid");
  });
});

describe("PostgreSQL dry-run (real server)", () => {
  const database = `gatehouse_dryrun_${process.pid}_${Date.now().toString(36)}`;
  let tool: SqlTool;
  let client: pg.Client;

  beforeAll(async () => {
    const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
    await admin.connect();
    await admin.query(`CREATE DATABASE "${database}"`);
    await admin.end();
    client = new pg.Client({ connectionString: `${PG_URL}/${database}` });
    await client.connect();
    await client.query(`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL);
      CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers (id) ON DELETE CASCADE, total numeric NOT NULL, status text NOT NULL DEFAULT 'open');
      INSERT INTO customers VALUES (1, 'ann'), (2, 'bob');
      INSERT INTO orders (customer, total) VALUES (1, 10), (1, 20), (2, 30);`);
    tool = createPostgresSqlTool({ connectionString: `${PG_URL}/${database}` });
  });

  afterAll(async () => {
    await tool.close?.();
    await client.end();
    const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await admin.end();
  });

  const count = async (sql = "SELECT count(*)::int AS n FROM orders") => (await client.query<{ n: number }>(sql)).rows[0]?.n;

  it("previews an insert and rolls it back", async () => {
    const preview = await tool.dryRun({ sql: "INSERT INTO orders (customer, total) VALUES ($1, $2)", params: [2, 5] });
    expect(preview.statements[0]).toMatchObject({ rowsAffected: 1, changes: [{ table: "public.orders", op: "insert", after: { customer: 2, total: 5, status: "open" } }] });
    expect(await count()).toBe(3);
  });

  it("previews an update with before and after", async () => {
    const preview = await tool.dryRun({ sql: "UPDATE orders SET status = 'refunded' WHERE total > 15" });
    expect(preview.statements[0]?.rowsAffected).toBe(2);
    expect(preview.statements[0]?.changes.map((c) => [c.before?.status, c.after?.status, c.after?.total])).toEqual([
      ["open", "refunded", 20],
      ["open", "refunded", 30],
    ]);
    expect(await count("SELECT count(*)::int AS n FROM orders WHERE status = 'open'")).toBe(3);
  });

  it("previews a delete, including rows a foreign-key cascade removes", async () => {
    const preview = await tool.dryRun({ sql: "DELETE FROM customers WHERE id = 1" });
    const changes = preview.statements[0]?.changes ?? [];
    expect(preview.statements[0]?.rowsAffected).toBe(1);
    expect(changes.filter((c) => c.table === "public.orders" && c.op === "delete")).toHaveLength(2);
    expect(changes.find((c) => c.table === "public.customers")).toMatchObject({ op: "delete", before: { id: 1, name: "ann" } });
    expect(await count()).toBe(3);
  });

  it.each([
    ["DROP TABLE orders", { existedBefore: true, existsAfter: false, rowsBefore: 3 }, true],
    ["TRUNCATE orders", { existedBefore: true, existsAfter: true, rowsBefore: 3, rowsAfter: 0 }, true],
    ["ALTER TABLE orders ADD COLUMN note text", { columnsAfter: ["id", "customer", "total", "status", "note"] }, false],
  ])("previews DDL `%s` and rolls it back", async (sql, table, irreversible) => {
    const preview = await tool.dryRun({ sql });
    expect(preview).toMatchObject({ class: "ddl", irreversible });
    expect(preview.statements[0]?.tables?.[0]).toMatchObject({ table: "orders", ...table });
    expect(await count()).toBe(3);
    expect((await client.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'")).rows).toHaveLength(4);
  });

  it("runs for real, and runs reads in a READ ONLY transaction", async () => {
    expect((await tool.run({ sql: "UPDATE orders SET status = 'paid' WHERE id = 1" })).statements[0]?.rowsAffected).toBe(1);
    expect(await count("SELECT count(*)::int AS n FROM orders WHERE status = 'paid'")).toBe(1);
    expect((await tool.run({ sql: "SELECT id FROM orders WHERE status = 'paid'" })).statements[0]?.rows).toEqual([{ id: 1 }]);
    await refusedWith(tool.run({ sql: "SELECT * FROM no_such_table" }), "sql-failed");
  });
});

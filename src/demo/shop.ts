import Database from "better-sqlite3";

/** The demo's orders database: a real SQLite file with customers and orders. */
export type ShopDatabase = Database.Database;

/** Creates and seeds the demo database at `path`. */
export function createShopDatabase(path: string, customers = 2000, orders = 1200): ShopDatabase {
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(`
    CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE);
    CREATE TABLE orders (id TEXT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                         total_cents INTEGER NOT NULL, status TEXT NOT NULL);
  `);
  const addCustomer = db.prepare("INSERT INTO customers (id, name, email) VALUES (?, ?, ?)");
  const addOrder = db.prepare("INSERT INTO orders (id, customer_id, total_cents, status) VALUES (?, ?, ?, ?)");
  db.transaction(() => {
    for (let i = 1; i <= customers; i++) addCustomer.run(i, `Customer ${i}`, `customer${i}@mail.example.org`);
    for (let i = 1; i <= orders; i++) {
      addOrder.run(`ord_${1000 + i}`, 1 + (i % customers), 1000 + ((i * 37) % 9000), i % 5 === 0 ? "refunded" : "shipped");
    }
  })();
  return db;
}

/** What a SQL statement would change, measured by running it and rolling back. */
export interface SqlPreview {
  readonly statement: string;
  readonly rowsChanged: number;
  readonly tables: readonly { table: string; rowsBefore: number; rowsAfter: number | "dropped" }[];
  readonly tablesCreated: readonly string[];
  readonly error?: string;
}

/**
 * Runs `sql` inside a transaction, measures table row counts before and after, and rolls back:
 * the preview shows the real effect on the real database and changes nothing.
 */
export function previewSql(db: ShopDatabase, sql: string): SqlPreview {
  const before = tableCounts(db);
  let rowsChanged = 0;
  let after: Map<string, number> = before;
  let error: string | undefined;
  db.exec("BEGIN");
  try {
    const startChanges = totalChanges(db);
    db.exec(sql);
    rowsChanged = totalChanges(db) - startChanges;
    after = tableCounts(db);
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
  } finally {
    db.exec("ROLLBACK");
  }
  const tables = [...before].flatMap(([table, rowsBefore]) => {
    const rowsAfter = after.has(table) ? after.get(table)! : ("dropped" as const);
    return rowsAfter === rowsBefore ? [] : [{ table, rowsBefore, rowsAfter }];
  });
  const tablesCreated = [...after.keys()].filter((t) => !before.has(t));
  return { statement: sql, rowsChanged, tables, tablesCreated, ...(error ? { error } : {}) };
}

function totalChanges(db: ShopDatabase): number {
  return (db.prepare("SELECT total_changes() AS n").get() as { n: number }).n;
}

function tableCounts(db: ShopDatabase): Map<string, number> {
  const names = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    .all() as { name: string }[];
  return new Map(names.map(({ name }) => [name, (db.prepare(`SELECT count(*) AS n FROM "${name.replace(/"/g, '""')}"`).get() as { n: number }).n]));
}

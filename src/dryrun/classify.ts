import sqlParser from "node-sql-parser";
import type { Risk } from "../core/index.js";
import { DryRunError } from "./errors.js";

/** The SQL dialects the built-in SQL tool speaks. */
export type SqlDialect = "sqlite" | "postgres";

/** What a statement does: reads, writes rows, or changes the schema. */
export type StatementClass = "read" | "write" | "ddl";

/** One statement, classified. */
export interface ClassifiedStatement {
  /** The statement's text as it will run. */
  readonly sql: string;
  readonly class: StatementClass;
  /** The parser's statement type, e.g. `update`, `drop`. */
  readonly type: string;
  /** Tables the statement names (lower case, without schema). */
  readonly tables: readonly string[];
  /** UPDATE or DELETE without WHERE: every row of the table. */
  readonly unbounded: boolean;
  /** DROP or TRUNCATE: the data cannot be brought back. */
  readonly irreversible: boolean;
}

/** A whole SQL text, classified; `risk` is the highest of its statements'. */
export interface SqlClassification {
  readonly statements: readonly ClassifiedStatement[];
  readonly class: StatementClass;
  readonly risk: Risk;
  readonly irreversible: boolean;
}

/** SQL longer than this is refused before parsing (a query, not a data load). */
export const MAX_SQL_CHARS = 100_000;

const READ_TYPES = new Set(["select"]);
const WRITE_TYPES = new Set(["insert", "update", "delete", "replace"]);
const DDL_TYPES = new Set(["drop", "truncate", "alter", "create", "rename"]);
/**
 * Functions that act outside the rows a statement names, so a SELECT calling them is not a read:
 * ending sessions, reading server files, large objects, remote links, settings, sleeping.
 * A statement that calls one is not classified (fail closed).
 */
const SIDE_EFFECT_FUNCTIONS =
  /\b(pg_terminate_backend|pg_cancel_backend|pg_reload_conf|pg_rotate_logfile|pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|lo_import|lo_export|lo_unlink|dblink\w*|set_config|pg_sleep\w*|pg_advisory\w*|nextval|setval|txid_current|pg_notify|load_extension|writefile|readfile|fts3_tokenizer)\s*\(/i;

const { Parser } = sqlParser as unknown as { Parser: new () => { parse(sql: string, opt: { database: string }): { ast: unknown; tableList: string[] } } };

/**
 * Splits SQL text into statements at top-level semicolons, honouring quotes ('', "", ``, []),
 * comments (--, /* *\/) and PostgreSQL dollar quotes ($tag$…$tag$). Empty statements are dropped.
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === "-" && next === "-") {
      const end = sql.indexOf("\n", i);
      i = end === -1 ? n : end + 1;
    } else if (c === "/" && next === "*") {
      const end = sql.indexOf("*/", i + 2);
      i = end === -1 ? n : end + 2;
    } else if (c === "'" || c === '"' || c === "`") {
      i++;
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      i++;
    } else if (c === "[") {
      const end = sql.indexOf("]", i);
      i = end === -1 ? n : end + 1;
    } else if (c === "$") {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i));
      if (tag) {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? n : end + tag[0].length;
      } else i++;
    } else if (c === ";") {
      out.push(sql.slice(start, i));
      start = ++i;
    } else i++;
  }
  out.push(sql.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

/**
 * Classifies SQL with a maintained parser (node-sql-parser) in the given dialect. Each statement
 * is parsed on its own; anything the parser cannot read, any statement type outside
 * read/write/DDL (transaction control, PRAGMA, ATTACH, COPY, GRANT, SET, …) and any read that
 * calls a side-effecting function is refused with DryRunError — never guessed (fail closed).
 *
 * Risk: read → `read-only`; write → `low-risk-write`, or `high-risk-write` when an UPDATE or
 * DELETE has no WHERE; DDL → `high-risk-write` (DROP and TRUNCATE also irreversible).
 *
 * @example
 * classifySql("DELETE FROM orders WHERE id = 7", "sqlite").risk // "low-risk-write"
 */
export function classifySql(sql: string, dialect: SqlDialect): SqlClassification {
  if (typeof sql !== "string" || sql.trim().length === 0) throw new DryRunError("sql-empty", "args.sql: give at least one SQL statement");
  if (sql.length > MAX_SQL_CHARS) throw new DryRunError("sql-too-long", `args.sql: longer than ${MAX_SQL_CHARS} characters`);
  const parser = new Parser();
  const database = dialect === "postgres" ? "postgresql" : "sqlite";
  const statements = splitStatements(sql).map((text, index): ClassifiedStatement => {
    let parsed;
    try {
      parsed = parser.parse(text, { database });
    } catch (error) {
      const detail = error instanceof Error ? error.message.split("\n")[0] : String(error);
      throw new DryRunError("sql-unparsable", `statement ${index + 1}: cannot be parsed as ${dialect} SQL (${detail}); it is refused, not guessed`);
    }
    const asts = (Array.isArray(parsed.ast) ? parsed.ast : [parsed.ast]) as { type?: string; keyword?: string; where?: unknown; table?: unknown }[];
    if (asts.length !== 1 || !asts[0]) throw new DryRunError("sql-unclassified", `statement ${index + 1}: expected exactly one statement`);
    const ast = asts[0];
    const type = String(ast.type ?? "").toLowerCase();
    const ops = parsed.tableList.map((entry) => entry.split("::")[0]?.toLowerCase() ?? "");
    const tables = [...new Set(parsed.tableList.map((entry) => (entry.split("::")[2] ?? "").toLowerCase()).filter((t) => t !== ""))];
    for (const t of tableNames(ast.table)) if (!tables.includes(t)) tables.push(t);
    let cls: StatementClass;
    if (READ_TYPES.has(type) && ops.every((op) => op === "select")) {
      if (SIDE_EFFECT_FUNCTIONS.test(text)) {
        throw new DryRunError("sql-unclassified", `statement ${index + 1}: calls a function with side effects outside its rows; it is refused`);
      }
      cls = "read";
    } else if (WRITE_TYPES.has(type)) cls = "write";
    else if (DDL_TYPES.has(type)) cls = "ddl";
    else throw new DryRunError("sql-unclassified", `statement ${index + 1}: a \`${type || "unknown"}\` statement is not read, write or DDL; it is refused`);
    return {
      sql: text,
      class: cls,
      type,
      tables,
      unbounded: (type === "update" || type === "delete") && !ast.where,
      irreversible: type === "drop" || type === "truncate",
    };
  });
  if (statements.length === 0) throw new DryRunError("sql-empty", "args.sql: give at least one SQL statement");
  const cls: StatementClass = statements.some((s) => s.class === "ddl") ? "ddl" : statements.some((s) => s.class === "write") ? "write" : "read";
  const high = cls === "ddl" || statements.some((s) => s.unbounded);
  return {
    statements,
    class: cls,
    risk: cls === "read" ? "read-only" : high ? "high-risk-write" : "low-risk-write",
    irreversible: statements.some((s) => s.irreversible),
  };
}

function tableNames(table: unknown): string[] {
  const list = Array.isArray(table) ? table : table ? [table] : [];
  return list
    .map((t) => (typeof t === "object" && t !== null && "table" in t ? String((t as { table: unknown }).table).toLowerCase() : ""))
    .filter((t) => t !== "" && t !== "null");
}

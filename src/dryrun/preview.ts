import type { Risk } from "../core/index.js";
import type { SqlDialect, StatementClass } from "./classify.js";

/** A row that a statement inserted, updated or deleted. Values are as the database returned them (BLOBs as `x'hex'`). */
export interface RowChange {
  readonly table: string;
  readonly op: "insert" | "update" | "delete";
  readonly before?: Readonly<Record<string, unknown>>;
  readonly after?: Readonly<Record<string, unknown>>;
}

/** What a DDL statement did to a table it names. */
export interface TableChange {
  readonly table: string;
  readonly existedBefore: boolean;
  readonly existsAfter: boolean;
  readonly rowsBefore: number;
  readonly rowsAfter: number;
  readonly columnsBefore: readonly string[];
  readonly columnsAfter: readonly string[];
}

/** One statement's preview. */
export interface StatementPreview {
  readonly sql: string;
  readonly class: StatementClass;
  /** Rows the statement inserted, updated or deleted (for DDL: rows lost or added in the tables it names). */
  readonly rowsAffected: number;
  /** The first changed rows, before and after (bounded by `maxDiffRows`). */
  readonly changes: readonly RowChange[];
  /** True when more rows changed than `changes` shows. */
  readonly changesTruncated: boolean;
  /** For DDL: each named table before and after. */
  readonly tables?: readonly TableChange[];
  /** For reads: the first rows returned (bounded). */
  readonly rows?: readonly unknown[];
}

/**
 * The dry-run contract's SQL preview: what the statements would change, computed by running them
 * and undoing them (`transaction`) or by running them on a copy (`sandbox-copy`).
 */
export interface SqlPreview {
  readonly kind: "sql";
  readonly mode: "transaction" | "sandbox-copy";
  readonly dialect: SqlDialect;
  readonly class: StatementClass;
  readonly risk: Risk;
  readonly irreversible: boolean;
  readonly statements: readonly StatementPreview[];
  /** With `sandbox-copy`: the reviewed plan that `run` applies only if the rows are unchanged. */
  readonly planId?: string;
}

/** What a SQL call that ran returns to the agent. */
export interface SqlResult {
  readonly statements: readonly { readonly sql: string; readonly rowsAffected: number; readonly rows?: readonly unknown[] }[];
}

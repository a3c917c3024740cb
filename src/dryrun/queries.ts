import type { Risk } from "../core/index.js";
import { classifySql } from "./classify.js";
import { DryRunError } from "./errors.js";
import type { SqlPreview, SqlResult } from "./preview.js";
import type { SqlTool } from "./sqlite.js";

/** One named, parameterised query. */
export interface NamedQuery {
  /** One statement with positional parameters (`?` for SQLite, `$1…` for PostgreSQL). */
  readonly sql: string;
  /** The argument names, in parameter order. */
  readonly params?: readonly string[];
  readonly description?: string;
}

/** A policy `tools:` entry for a named query (paste or merge into gatehouse.yaml). */
export interface NamedQueryPolicy {
  readonly risk: Risk;
  readonly irreversible?: true;
  readonly description?: string;
  readonly args: Record<string, unknown>;
}

/** Named queries as guarded tools, and the policy entries that list them. */
export interface NamedQueries {
  readonly tools: Record<string, { run(args: unknown): Promise<SqlResult>; dryRun(args: unknown): Promise<SqlPreview> }>;
  readonly policy: Record<string, NamedQueryPolicy>;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * Narrows a raw SQL tool into named, parameterised queries: the agent picks a query by name and
 * supplies only its parameter values (scalars, bound — never spliced into the SQL). Each query is
 * classified when it is defined, so its risk class in `policy` comes from its SQL, and a query the
 * classifier cannot read is refused at startup rather than at 3 a.m.
 *
 * @example
 * const { tools, policy } = defineSqlQueries(sql, {
 *   refund_order: { sql: "UPDATE orders SET status = 'refunded' WHERE id = ?", params: ["order_id"] },
 * });
 * // policy.refund_order → { risk: "low-risk-write", args: { type: "object", required: ["order_id"], … } }
 */
export function defineSqlQueries(tool: SqlTool, queries: Readonly<Record<string, NamedQuery>>): NamedQueries {
  const tools: NamedQueries["tools"] = {};
  const policy: NamedQueries["policy"] = {};
  for (const [name, query] of Object.entries(queries)) {
    if (!NAME.test(name)) throw new DryRunError("sql-query-invalid", `query name \`${name}\` must be letters, digits and \`_\``);
    const params = query.params ?? [];
    for (const p of params) if (!NAME.test(p)) throw new DryRunError("sql-query-invalid", `${name}.params: \`${p}\` must be letters, digits and \`_\``);
    let c;
    try {
      c = classifySql(query.sql, tool.dialect);
    } catch (error) {
      throw new DryRunError("sql-query-invalid", `${name}.sql: ${(error as Error).message}`, { cause: error });
    }
    if (c.statements.length !== 1) throw new DryRunError("sql-query-invalid", `${name}.sql: a named query is exactly one statement`);
    const bind = (args: unknown) => {
      if (typeof args !== "object" || args === null || Array.isArray(args)) throw new DryRunError("sql-args-invalid", `${name}: arguments must be an object`);
      const record = args as Record<string, unknown>;
      const extra = Object.keys(record).filter((k) => !params.includes(k));
      if (extra.length > 0) throw new DryRunError("sql-args-invalid", `${name}: unknown argument \`${extra[0]}\``);
      const values = params.map((p) => {
        const v = record[p];
        if (v === undefined) throw new DryRunError("sql-args-invalid", `${name}: missing argument \`${p}\``);
        if (v !== null && !["string", "number", "boolean"].includes(typeof v)) {
          throw new DryRunError("sql-args-invalid", `${name}.${p}: must be a string, number, boolean or null`);
        }
        return v;
      });
      return { sql: query.sql, ...(params.length > 0 ? { params: values } : {}) };
    };
    tools[name] = { run: async (args) => tool.run(bind(args)), dryRun: async (args) => tool.dryRun(bind(args)) };
    policy[name] = {
      risk: c.risk,
      ...(c.irreversible ? { irreversible: true as const } : {}),
      ...(query.description ? { description: query.description } : {}),
      args: {
        type: "object",
        required: [...params],
        additionalProperties: false,
        properties: Object.fromEntries(params.map((p) => [p, { type: ["string", "number", "boolean", "null"] }])),
      },
    };
  }
  return { tools, policy };
}

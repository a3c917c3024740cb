import { z } from "zod";
import { DryRunError } from "./errors.js";

/** What the SQL tool takes: SQL text and, for a single statement, its bound parameters. */
export interface SqlArgs {
  readonly sql: string;
  /** Positional (`?`, `$1`) or, for SQLite, named (`@name`) parameters. */
  readonly params?: readonly unknown[] | Readonly<Record<string, unknown>>;
}

const Scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const SqlArgsSchema = z.strictObject({
  sql: z.string().min(1),
  params: z.union([z.array(Scalar), z.record(z.string(), Scalar)]).optional(),
});

/** Validates the SQL tool's arguments; throws DryRunError `sql-args-invalid` naming the field. */
export function parseSqlArgs(args: unknown): { sql: string; params: unknown[] | Record<string, unknown> | undefined } {
  const parsed = SqlArgsSchema.safeParse(args);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DryRunError("sql-args-invalid", `args.${issue?.path.join(".") || ""}: ${issue?.message ?? "invalid"}`.replace("args.:", "args:"));
  }
  return { sql: parsed.data.sql, params: parsed.data.params };
}

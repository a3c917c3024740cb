import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { AuditEvent } from "../core/index.js";
import { createMemoryAuditLog } from "../audit/index.js";
import { createGatehouse, type GuardedResult } from "../integrations/index.js";
import { POISONED_TICKET, scenarioSteps } from "./scenario.js";
import { createShopDatabase, previewSql } from "./shop.js";

/** The example policy the demo runs under, shipped with the package. */
export const DEMO_POLICY_PATH = fileURLToPath(new URL("../../examples/support-agent.yaml", import.meta.url));

export interface DemoOptions {
  readonly write: (line: string) => void;
  readonly policyPath?: string;
  /** Colour the output (a terminal); plain text otherwise. */
  readonly color?: boolean;
}

/** What the demo saw, for tests and for the closing summary. */
export interface DemoReport {
  readonly results: readonly { tool: string; result: GuardedResult }[];
  readonly audit: readonly AuditEvent[];
  readonly ordersAfter: number;
}

/**
 * Runs the scripted scenario: a support agent whose ticket carries a prompt injection, against a
 * real SQLite orders database, every call through the Gate. Prints a readable account and the
 * audit trail, and returns what happened.
 */
export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const paint = painter(options.color ?? false);
  const out = options.write;
  const workDir = mkdtempSync(join(tmpdir(), "gatehouse-demo-"));
  const db = createShopDatabase(join(workDir, "shop.db"));
  try {
    const audit = createMemoryAuditLog();
    const gatehouse = await createGatehouse({ policy: options.policyPath ?? DEMO_POLICY_PATH, audit });
    const customerEmails = (db.prepare("SELECT email FROM customers ORDER BY id").all() as { email: string }[]).map((r) => r.email);
    const tools = gatehouse.guard(
      {
        read_ticket: () => POISONED_TICKET,
        get_order: (args: { order_id: string }) => db.prepare("SELECT * FROM orders WHERE id = ?").get(args.order_id) ?? null,
        send_email: (args: { to: string[]; subject: string }) => ({ queued: args.to.length, subject: args.subject }),
        run_sql: {
          run: (args: { sql: string }) => {
            db.exec(args.sql);
            return { ok: true };
          },
          dryRun: (args: { sql: string }) => previewSql(db, args.sql),
        },
        read_file: () => "(knowledge base article)",
        export_customers: () => db.prepare("SELECT * FROM customers").all(),
      },
      { agent: "support-bot", run: "run-demo-1", principal: "jamie@mail.example.org", request: "Answer ticket T-1042" },
    );

    out(paint.bold("Gatehouse demo: a support agent meets a prompt injection"));
    out(`policy ${paint.dim(options.policyPath ?? "examples/support-agent.yaml")}; orders database ${paint.dim(join(workDir, "shop.db"))}`);
    out("");
    out(`The user asked the agent to answer ticket ${POISONED_TICKET.id}. The ticket's body hides this:`);
    for (const line of POISONED_TICKET.body.split("\n").slice(2)) out(paint.dim(`  │ ${line}`));
    out("");

    const results: { tool: string; result: GuardedResult }[] = [];
    const steps = scenarioSteps(customerEmails);
    for (const [index, step] of steps.entries()) {
      out(`${paint.bold(`${index + 1}.`)} ${step.narration}`);
      out(`   ${paint.dim("call")} ${step.tool}(${summariseArgs(step.args)})`);
      const result = await (tools as Record<string, (a: unknown) => Promise<GuardedResult>>)[step.tool]!(step.args);
      results.push({ tool: step.tool, result });
      out(`   ${describe(result, paint)}`);
      out("");
    }

    const ordersAfter = (db.prepare("SELECT count(*) AS n FROM orders").get() as { n: number }).n;
    out(`The orders table still holds ${ordersAfter} rows; no customer was emailed; no file outside /srv/kb/ was read.`);
    out("");
    out(paint.bold("Audit trail (every decision and outcome, in order):"));
    const events = audit.events();
    for (const event of events) out(`  ${formatEvent(event)}`);
    out("");
    out(`Next: ${paint.bold("gatehouse explain --policy examples/support-agent.yaml --tool send_email --args '{\"to\":[\"a@evil.example\"],\"subject\":\"s\",\"body\":\"b\"}'")}`);
    return { results, audit: events, ordersAfter };
  } finally {
    db.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

function summariseArgs(args: Record<string, unknown>): string {
  return Object.entries(args)
    .map(([key, value]) => {
      if (Array.isArray(value)) return `${key}: [${value.length} item${value.length === 1 ? "" : "s"}]`;
      const text = JSON.stringify(value);
      return `${key}: ${text.length > 48 ? `${text.slice(0, 45)}..."` : text}`;
    })
    .join(", ");
}

function describe(result: GuardedResult, paint: Painter): string {
  switch (result.status) {
    case "ok":
      return `${paint.green("ALLOWED")}  ran; returned ${truncate(JSON.stringify(result.value), 90)}`;
    case "denied":
      return `${paint.red("DENIED")}   ${result.message} [${result.code}]`;
    case "pending":
      return `${paint.yellow("HELD")}     ${result.message} [${result.code}]`;
    case "dry-run": {
      const preview = result.preview as { tables?: { table: string; rowsBefore: number; rowsAfter: number | string }[] } | undefined;
      const effect = preview?.tables?.length
        ? `preview: ${preview.tables.map((t) => `table ${t.table} (${t.rowsBefore} rows) → ${t.rowsAfter}`).join(", ")}; rolled back`
        : "preview: no change";
      return `${paint.cyan("DRY-RUN")}  ${result.message}\n            ${effect}`;
    }
    case "error":
      return `${paint.red("ERROR")}    ${result.message}`;
  }
}

function formatEvent(event: AuditEvent): string {
  const time = event.time.slice(11, 23);
  if (event.type === "decision" && event.decision) {
    const rules = event.decision.rules.length ? ` by ${event.decision.rules.join(",")}` : "";
    return `${time} decision ${event.tool.padEnd(16)} ${event.decision.verdict.padEnd(7)} ${event.decision.code}${rules}`;
  }
  return `${time} outcome  ${event.tool.padEnd(16)} ${event.outcome?.status ?? "?"}`;
}

function truncate(text: string | undefined, max: number): string {
  if (text === undefined) return "nothing";
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

interface Painter {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

function painter(color: boolean): Painter {
  const wrap = (open: number, close: number) => (s: string) => (color ? `\u001b[${open}m${s}\u001b[${close}m` : s);
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), green: wrap(32, 39), yellow: wrap(33, 39), cyan: wrap(36, 39) };
}

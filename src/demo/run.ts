import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import type { AuditEvent, AuditSink } from "../core/index.js";
import { createMemoryAuditLog, generateSigningKey, openAuditLog, verifyAuditLog } from "../audit/index.js";
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
  /** `gatehouse audit verify` on the durable log as written, then after an edit behind its back. */
  readonly verified: { readonly ok: boolean; readonly size: number; readonly signedSize: number };
  readonly tampered: { readonly ok: boolean; readonly problem?: string };
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
    // The durable, tamper-evident log (SQLite, signed checkpoints) and a copy in memory to print.
    const auditPath = join(workDir, "audit.db");
    const key = generateSigningKey("demo.gatehouse.local/audit");
    const durable = await openAuditLog({ path: auditPath, signingKey: key });
    const memory = createMemoryAuditLog();
    const audit: AuditSink = {
      append: async (event) => {
        await durable.append(event);
        await memory.append(event);
      },
    };
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
    const events = memory.events();
    for (const event of events) out(`  ${formatEvent(event)}`);
    out("");

    await durable.close();
    const clean = await verifyAuditLog({ path: auditPath, verifierKey: key.verifier });
    out(paint.bold("The trail is tamper-evident:"));
    out(`  ${paint.dim(auditPath)}: ${clean.size} records, a signed checkpoint covers ${clean.signedSize}; verify: ${clean.ok ? paint.green("ok") : paint.red("FAILED")}`);
    const problem = hideTheHeldEmail(auditPath);
    const after = await verifyAuditLog({ path: auditPath, verifierKey: key.verifier });
    out(`  someone with database access rewrites ${problem}; verify: ${after.ok ? paint.red("ok (not caught!)") : paint.red("FAILED")}`);
    const first = after.problems[0];
    if (first) out(`  ${paint.dim(`${first.code}: ${first.message}`)}`);
    out("");
    out(`Next: ${paint.bold("gatehouse explain --policy examples/support-agent.yaml --tool send_email --args '{\"to\":[\"a@evil.example\"],\"subject\":\"s\",\"body\":\"b\"}'")}`);
    return {
      results,
      audit: events,
      ordersAfter,
      verified: { ok: clean.ok, size: clean.size, signedSize: clean.signedSize },
      tampered: { ok: after.ok, ...(first ? { problem: first.code } : {}) },
    };
  } finally {
    db.close();
    rmSync(workDir, { recursive: true, force: true });
  }
}

/**
 * Plays the insider: edits the held `send_email` decision to read "allow" straight in the
 * database, past the store's append-only triggers. Returns what was changed.
 */
function hideTheHeldEmail(path: string): string {
  const db = new Database(path);
  try {
    db.exec("DROP TRIGGER IF EXISTS records_no_update");
    const row = db.prepare(`SELECT seq FROM records WHERE record LIKE '%"tool":"send_email"%' AND record LIKE '%"verdict":"ask"%' ORDER BY seq LIMIT 1`).get() as
      | { seq: number }
      | undefined;
    if (!row) return "nothing (no held call was recorded)";
    db.prepare(`UPDATE records SET record = replace(record, '"verdict":"ask"', '"verdict":"allow"') WHERE seq = ?`).run(row.seq);
    return `record ${row.seq} (the held send_email) to say "allow"`;
  } finally {
    db.close();
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

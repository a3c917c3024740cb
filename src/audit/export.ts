import { sha256Hex } from "../core/index.js";
import type { AuditStore } from "../store/index.js";
import { AuditError } from "./errors.js";
import { decodeRecord, type AuditRecord, type StoredEvent } from "./record.js";

/** Export formats: JSONL and CSV for people, OCSF for SIEMs, OTLP JSON spans for tracing backends. */
export const EXPORT_FORMATS = ["jsonl", "csv", "ocsf", "otel"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Which records to export. Times are compared with each event's own `time`. */
export interface ExportFilter {
  readonly since?: Date;
  readonly until?: Date;
  readonly agent?: string;
}

/** The OCSF schema version the `ocsf` format follows. */
export const OCSF_VERSION = "1.3.0";
/** How many decisions wait for their outcome before being exported alone (bounds memory). */
const OTEL_PAIRING_WINDOW = 10_000;

/**
 * Streams the log in `format`, one chunk per line, reading it page by page: memory stays
 * constant however long the log is (the `otel` format keeps at most 10,000 decisions waiting for
 * their outcome).
 *
 * - `jsonl`: each stored record exactly as hashed, so every line's leaf hash can be recomputed.
 * - `csv`: one row per record with a header; cells that a spreadsheet would run as a formula
 *   are prefixed with `'` (agent-controlled text must not execute on an auditor's machine).
 * - `ocsf`: OCSF API Activity (class_uid 6003) events, one JSON object per line.
 * - `otel`: OTLP/JSON `ExportTraceServiceRequest` lines, each with one GenAI `execute_tool` span.
 *
 * @example
 * for await (const line of exportAuditLog(store, "ocsf", { agent: "support" })) process.stdout.write(line);
 */
export async function* exportAuditLog(store: AuditStore, format: ExportFormat, filter: ExportFilter = {}): AsyncIterable<string> {
  const origin = (await store.origin()) ?? "";
  const end = await store.nextSeq();
  const pending = new Map<string, AuditRecord>();
  if (format === "csv") yield `${CSV_COLUMNS.join(",")}\r\n`;
  for await (const page of store.readRecords(0, end)) {
    for (const row of page) {
      const record = decodeRecord(row.record, row.seq);
      if (!matches(record.event, filter)) continue;
      switch (format) {
        case "jsonl":
          yield `${row.record}\n`;
          break;
        case "csv":
          yield `${csvRow(record).join(",")}\r\n`;
          break;
        case "ocsf":
          yield `${JSON.stringify(toOcsf(record, origin))}\n`;
          break;
        case "otel":
          yield* otelLines(record, pending);
          break;
      }
    }
  }
  if (format === "otel") {
    for (const decision of pending.values()) yield `${JSON.stringify(toOtel(decision, undefined))}\n`;
  }
}

/** Parses an export time flag (ISO 8601). Throws `audit-option-invalid` naming the flag. */
export function parseExportTime(value: string, flag: string): Date {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new AuditError("audit-option-invalid", `${flag} \`${value}\` is not an ISO 8601 time; use e.g. 2026-01-31 or 2026-01-31T12:00:00Z`);
  }
  return new Date(ms);
}

function matches(event: StoredEvent, filter: ExportFilter): boolean {
  if (filter.agent !== undefined && event.agent !== filter.agent) return false;
  if (filter.since || filter.until) {
    const t = Date.parse(event.time);
    if (Number.isNaN(t)) return false;
    if (filter.since && t < filter.since.getTime()) return false;
    if (filter.until && t >= filter.until.getTime()) return false;
  }
  return true;
}

const CSV_COLUMNS = [
  "seq", "logged", "time", "type", "action", "agent", "run", "principal", "environment", "tool",
  "verdict", "code", "rules", "reasons", "approvals", "status", "error", "duration_ms", "model",
  "input_tokens", "output_tokens", "cost", "currency", "context_hash", "args", "result", "result_sha256",
] as const;

function csvRow(record: AuditRecord): string[] {
  const e = record.event;
  const json = (v: unknown): string => (v === undefined ? "" : JSON.stringify(v));
  const cells: (string | number | undefined)[] = [
    record.seq, record.logged, e.time, e.type, e.action, e.agent, e.run, e.principal, e.environment, e.tool,
    e.decision?.verdict, e.decision?.code, e.decision?.rules.join(" "), e.decision ? json(e.decision.reasons) : undefined,
    e.approvals?.join(" "), e.outcome?.status, e.outcome?.error, e.outcome?.durationMs,
    e.model ? [e.model.name, e.model.version].filter(Boolean).join("@") : undefined,
    e.cost?.inputTokens, e.cost?.outputTokens, e.cost?.amount, e.cost?.currency, e.contextHash,
    json(e.args), e.outcome?.resultTruncated ? e.outcome.resultTruncated.preview : json(e.outcome?.result),
    e.outcome?.resultTruncated?.sha256,
  ];
  return cells.map(csvCell);
}

function csvCell(value: string | number | undefined): string {
  if (value === undefined) return "";
  let text = String(value);
  // CSV injection: a cell starting with = + - @ (or tab/CR) runs as a formula in spreadsheets.
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

function toOcsf(record: AuditRecord, origin: string): Record<string, unknown> {
  const e = record.event;
  const activityId = e.decision?.risk === "read-only" ? 2 : e.decision?.risk ? 99 : 0;
  const activityName = activityId === 2 ? "Read" : activityId === 99 ? "Other" : "Unknown";
  const verdict = e.decision?.verdict;
  const failed = verdict === "deny" || e.outcome?.status === "error";
  const statusId = failed ? 2 : verdict === "ask" ? 99 : 1;
  const severityId = verdict === "deny" ? 3 : failed || verdict === "ask" ? 2 : 1;
  const time = Date.parse(e.time);
  const result = e.outcome?.resultTruncated ?? e.outcome?.result;
  return {
    activity_id: activityId,
    activity_name: activityName,
    category_uid: 6,
    category_name: "Application Activity",
    class_uid: 6003,
    class_name: "API Activity",
    type_uid: 6003 * 100 + activityId,
    type_name: `API Activity: ${activityName}`,
    time: Number.isNaN(time) ? Date.parse(record.logged) : time,
    severity_id: severityId,
    severity: ["Unknown", "Informational", "Low", "Medium"][severityId],
    status_id: statusId,
    status: statusId === 1 ? "Success" : statusId === 2 ? "Failure" : "Other",
    ...(e.decision ? { status_code: e.decision.code, status_detail: e.decision.reasons.join("; ") } : {}),
    ...(e.outcome?.error ? { status_detail: e.outcome.error } : {}),
    message: e.decision ? `${e.decision.verdict} ${e.tool} (${e.decision.code})` : `${e.tool} ${e.outcome?.status ?? ""}`.trim(),
    actor: {
      ...(e.principal ? { user: { name: e.principal } } : {}),
      ...(e.agent ? { app_name: e.agent } : {}),
    },
    api: {
      operation: e.tool,
      service: { name: "gatehouse" },
      request: { uid: e.action },
      ...(e.outcome?.error ? { response: { error_message: e.outcome.error } } : {}),
    },
    src_endpoint: { name: e.agent ?? "unknown-agent" },
    metadata: {
      version: OCSF_VERSION,
      product: { name: "Gatehouse", vendor_name: "Gatehouse" },
      uid: `${origin}#${record.seq}`,
      log_name: origin,
      sequence: record.seq,
      logged_time: Date.parse(record.logged),
      original_time: e.time,
      ...(e.run ? { correlation_uid: e.run } : {}),
    },
    unmapped: {
      gatehouse: {
        type: e.type,
        ...(e.environment ? { environment: e.environment } : {}),
        ...(e.decision ? { decision: e.decision } : {}),
        ...(e.approvals ? { approvals: e.approvals } : {}),
        ...(e.policyDigest ? { policy_digest: e.policyDigest } : {}),
        ...(e.args === undefined ? {} : { args: e.args }),
        ...(result === undefined ? {} : { result }),
        ...(e.model ? { model: e.model } : {}),
        ...(e.cost ? { cost: e.cost } : {}),
        ...(e.contextHash ? { context_hash: e.contextHash } : {}),
      },
    },
  };
}

function* otelLines(record: AuditRecord, pending: Map<string, AuditRecord>): Iterable<string> {
  const e = record.event;
  // An approval step (requested, answered, granted…) is no tool execution: it has no span.
  if (e.type === "approval") return;
  if (e.type === "decision") {
    // A denied call never runs: its span ends where the decision was made.
    if (e.decision?.verdict === "deny") {
      yield `${JSON.stringify(toOtel(record, undefined))}\n`;
      return;
    }
    pending.set(e.action, record);
    if (pending.size > OTEL_PAIRING_WINDOW) {
      const [oldestKey, oldest] = pending.entries().next().value as [string, AuditRecord];
      pending.delete(oldestKey);
      yield `${JSON.stringify(toOtel(oldest, undefined))}\n`;
    }
    return;
  }
  const decision = pending.get(e.action);
  pending.delete(e.action);
  yield `${JSON.stringify(toOtel(decision, record))}\n`;
}

type OtelValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { arrayValue: { values: OtelValue[] } };

function toOtel(decision: AuditRecord | undefined, outcome: AuditRecord | undefined): Record<string, unknown> {
  const first = (decision ?? outcome) as AuditRecord;
  const d = decision?.event;
  const o = outcome?.event;
  const e = first.event;
  const attrs: { key: string; value: OtelValue }[] = [];
  const str = (key: string, value: string | undefined): void => {
    if (value !== undefined && value !== "") attrs.push({ key, value: { stringValue: value } });
  };
  const int = (key: string, value: number | undefined): void => {
    if (value !== undefined && Number.isFinite(value)) attrs.push({ key, value: { intValue: String(Math.trunc(value)) } });
  };
  str("gen_ai.operation.name", "execute_tool");
  str("gen_ai.tool.name", e.tool);
  str("gen_ai.tool.call.id", e.action);
  str("gen_ai.tool.type", "function");
  str("gen_ai.agent.name", e.agent);
  str("gen_ai.conversation.id", e.run);
  const model = o?.model ?? d?.model;
  str("gen_ai.request.model", model?.name);
  const cost = o?.cost ?? d?.cost;
  int("gen_ai.usage.input_tokens", cost?.inputTokens);
  int("gen_ai.usage.output_tokens", cost?.outputTokens);
  if (d?.args !== undefined) str("gen_ai.tool.call.arguments", JSON.stringify(d.args));
  const result = o?.outcome?.resultTruncated ? o.outcome.resultTruncated.preview : o?.outcome?.result === undefined ? undefined : JSON.stringify(o.outcome.result);
  str("gen_ai.tool.call.result", result);
  str("gatehouse.decision.verdict", d?.decision?.verdict);
  str("gatehouse.decision.code", d?.decision?.code);
  if (d?.decision && d.decision.rules.length > 0) {
    attrs.push({ key: "gatehouse.decision.rules", value: { arrayValue: { values: d.decision.rules.map((r) => ({ stringValue: r })) } } });
  }
  str("gatehouse.principal", e.principal);
  str("gatehouse.environment", e.environment);
  str("gatehouse.outcome.status", o?.outcome?.status);
  int("gatehouse.audit.seq", first.seq);
  let status: { code: number; message?: string } = { code: 0 };
  if (d?.decision?.verdict === "deny") {
    str("error.type", d.decision.code);
    status = { code: 2, message: d.decision.reasons.join("; ") };
  } else if (o?.outcome?.status === "error") {
    str("error.type", "tool_error");
    status = { code: 2, message: o.outcome.error ?? "tool error" };
  }
  const endMs = Date.parse((o ?? e).time);
  const durationMs = o?.outcome?.durationMs;
  const startMs = d ? Date.parse(d.time) : durationMs !== undefined ? endMs - durationMs : endMs;
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: "service.name", value: { stringValue: "gatehouse" } }] },
        scopeSpans: [
          {
            scope: { name: "gatehouse.audit", version: "1" },
            spans: [
              {
                traceId: sha256Hex(e.run ?? e.action).slice(0, 32),
                spanId: sha256Hex(e.action).slice(0, 16),
                name: `execute_tool ${e.tool}`,
                kind: 1,
                startTimeUnixNano: nanos(startMs),
                endTimeUnixNano: nanos(Math.max(startMs, endMs)),
                attributes: attrs,
                status,
              },
            ],
          },
        ],
      },
    ],
  };
}

function nanos(ms: number): string {
  return Number.isNaN(ms) ? "0" : `${BigInt(Math.trunc(ms)) * 1_000_000n}`;
}

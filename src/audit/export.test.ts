import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteAuditStore } from "../store/index.js";
import { exportAuditLog } from "./export.js";
import { openAuditLog } from "./log.js";
import { generateSigningKey } from "./note.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-export-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

type Span = { name: string; startTimeUnixNano: string; endTimeUnixNano: string; status: { code: number; message?: string }; attributes: { key: string; value: Record<string, unknown> }[] };

describe("OpenTelemetry export", () => {
  it("pairs a decision with its outcome into one execute_tool span, and emits calls that never ran on their own", async () => {
    const db = join(dir, "audit.db");
    const log = await openAuditLog({ path: db, signingKey: generateSigningKey("otel.example/audit") });
    const decision = { verdict: "allow", code: "allowed-by-rule", rules: ["r1"], reasons: ["ok"] } as const;
    await log.append({ type: "decision", time: "2026-01-31T12:00:00.000Z", action: "a1", run: "run-1", agent: "bot", tool: "get_order", args: { id: 1 }, decision });
    await log.append({ type: "decision", time: "2026-01-31T12:00:00.010Z", action: "a2", run: "run-1", agent: "bot", tool: "refund", decision: { ...decision, verdict: "ask", code: "asked-by-rule" } });
    await log.append({ type: "outcome", time: "2026-01-31T12:00:00.025Z", action: "a1", run: "run-1", agent: "bot", tool: "get_order", outcome: { status: "ok", result: { total: 3 }, durationMs: 20 } });
    await log.close();
    const store = openSqliteAuditStore(db, { readonly: true });
    const lines: string[] = [];
    for await (const line of exportAuditLog(store, "otel")) lines.push(line);
    await store.close();
    const spans = lines.map((l) => (JSON.parse(l) as { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] }).resourceSpans[0]!.scopeSpans[0]!.spans[0]!);
    expect(spans).toHaveLength(2);
    const attr = (s: Span, k: string) => s.attributes.find((a) => a.key === k)?.value;
    const [paired, waiting] = spans as [Span, Span];
    expect(paired.name).toBe("execute_tool get_order");
    expect(paired.startTimeUnixNano).toBe(`${Date.parse("2026-01-31T12:00:00.000Z")}000000`);
    expect(paired.endTimeUnixNano).toBe(`${Date.parse("2026-01-31T12:00:00.025Z")}000000`);
    expect(paired.status).toEqual({ code: 0 });
    expect(attr(paired, "gen_ai.tool.call.arguments")).toEqual({ stringValue: '{"id":1}' });
    expect(attr(paired, "gen_ai.tool.call.result")).toEqual({ stringValue: '{"total":3}' });
    expect(attr(paired, "gen_ai.conversation.id")).toEqual({ stringValue: "run-1" });
    expect(attr(paired, "gatehouse.decision.rules")).toEqual({ arrayValue: { values: [{ stringValue: "r1" }] } });
    expect(waiting.name).toBe("execute_tool refund");
    expect(attr(waiting, "gatehouse.decision.verdict")).toEqual({ stringValue: "ask" });
    expect(attr(waiting, "gen_ai.tool.call.result")).toBeUndefined();
  });
});

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AuditEvent } from "../src/core/index.js";

/** A fresh directory under the system temp dir (on disk, so fsync is real). */
export function tempDir(prefix = "gatehouse-audit-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A realistic decision or outcome event, numbered so tests can find it. */
export function sampleEvent(i: number, overrides: Partial<AuditEvent> = {}): AuditEvent {
  const action = `act-${String(i).padStart(6, "0")}`;
  if (i % 2 === 1) {
    return {
      type: "outcome",
      time: new Date(Date.UTC(2026, 0, 31, 12, 0, 0, i)).toISOString(),
      action,
      agent: i % 3 === 0 ? "billing-bot" : "support-bot",
      run: `run-${Math.floor(i / 10)}`,
      principal: "alice@example.com",
      environment: "production",
      tool: "get_order",
      outcome: { status: i % 7 === 0 ? "error" : "ok", result: { order: `ord_${i}`, total: i * 1.5 }, durationMs: 12, ...(i % 7 === 0 ? { error: "timeout" } : {}) },
      ...overrides,
    };
  }
  return {
    type: "decision",
    time: new Date(Date.UTC(2026, 0, 31, 12, 0, 0, i)).toISOString(),
    action,
    agent: i % 3 === 0 ? "billing-bot" : "support-bot",
    run: `run-${Math.floor(i / 10)}`,
    principal: "alice@example.com",
    environment: "production",
    tool: i % 4 === 0 ? "send_email" : "get_order",
    args: { order_id: `ord_${i}` },
    decision: i % 4 === 0
      ? { verdict: "deny", code: "denied-by-rule", rules: ["no-external-mail"], reasons: ["email to outside addresses needs approval"], risk: "high-risk-write" }
      : { verdict: "allow", code: "allowed-by-rule", rules: ["orders-read"], reasons: ["reading orders is allowed"], risk: "read-only" },
    model: { name: "claude-sonnet-4", version: "2025-05-14" },
    cost: { inputTokens: 1200, outputTokens: 80, amount: 0.0042, currency: "USD" },
    contextHash: "a".repeat(64),
    ...overrides,
  };
}

/** Flattens an async iterable of pages. */
export async function collectPages<T>(pages: AsyncIterable<readonly T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}

/** Collects every chunk of an async iterable. */
export async function collectAll<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

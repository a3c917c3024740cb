import type { AuditStore } from "../store/index.js";
import { decodeRecord, type AuditRecord } from "./record.js";

/** Options for {@link tailAuditLog}. */
export interface TailOptions {
  /** How many of the latest records to show first; default 10. */
  readonly lines?: number;
  /** Keep watching for new records until `signal` aborts. */
  readonly follow?: boolean;
  readonly signal?: AbortSignal;
  /** How often to look for new records when following; default 500 ms. */
  readonly intervalMs?: number;
}

/**
 * Yields the latest records and, with `follow`, every record appended after them as it
 * arrives (polling a read-only connection, so it never blocks the writer).
 *
 * @example
 * for await (const record of tailAuditLog(store, { follow: true, signal })) console.log(formatRecord(record));
 */
export async function* tailAuditLog(store: AuditStore, options: TailOptions = {}): AsyncIterable<AuditRecord> {
  const intervalMs = options.intervalMs ?? 500;
  let next = Math.max(0, (await store.nextSeq()) - (options.lines ?? 10));
  for (;;) {
    const end = await store.nextSeq();
    for await (const page of store.readRecords(next, end)) {
      for (const row of page) {
        yield decodeRecord(row.record, row.seq);
        next = row.seq + 1;
      }
    }
    if (!options.follow || options.signal?.aborted) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, intervalMs);
      options.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    if (options.signal?.aborted) return;
  }
}

/**
 * One readable line per record:
 * `#12 2026-01-31T12:00:00.000Z decision deny support/send_email denied-by-rule [no-external-mail] run=r1 — reason`.
 */
export function formatRecord(record: AuditRecord): string {
  const e = record.event;
  const who = `${e.agent ?? "-"}/${e.tool}`;
  const parts = [`#${record.seq}`, e.time, e.type];
  if (e.decision) {
    parts.push(e.decision.verdict, who, e.decision.code);
    if (e.decision.rules.length > 0) parts.push(`[${e.decision.rules.join(",")}]`);
  } else if (e.outcome) {
    parts.push(e.outcome.status, who);
    if (e.outcome.durationMs !== undefined) parts.push(`${e.outcome.durationMs}ms`);
  } else {
    parts.push(who);
  }
  if (e.run) parts.push(`run=${e.run}`);
  if (e.principal) parts.push(`by=${e.principal}`);
  const note = e.decision?.reasons[0] ?? e.outcome?.error;
  // Reasons and errors may carry agent-controlled text: strip control characters (terminal escapes).
  const line = parts.map(stripControl).join(" ");
  return note ? `${line} — ${stripControl(note)}` : line;
}

function stripControl(text: string): string {
  let out = "";
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    out += c < 0x20 || (c >= 0x7f && c <= 0x9f) ? " " : ch;
  }
  return out;
}

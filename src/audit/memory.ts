import type { AuditEvent, AuditSink } from "../core/index.js";

/** An audit sink that keeps events in memory, for tests, the demo and short-lived processes. */
export interface MemoryAuditLog extends AuditSink {
  /** Every event appended so far, oldest first. */
  events(): readonly AuditEvent[];
}

/**
 * Creates an in-memory audit recorder. Events are deep-frozen copies, so a caller that keeps a
 * reference to what it appended cannot rewrite the trail afterwards.
 *
 * @example
 * const audit = createMemoryAuditLog();
 * const gate = createGate({ policy, audit });
 */
export function createMemoryAuditLog(): MemoryAuditLog {
  const events: AuditEvent[] = [];
  return {
    append(event) {
      events.push(deepFreeze(structuredClone(event)));
      return Promise.resolve();
    },
    events: () => events.slice(),
  };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

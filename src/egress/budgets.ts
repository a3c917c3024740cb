import type { EgressIdentity } from "./identity.js";
import type { EgressBudget } from "./schema.js";

/** Why a budget refused, for the 429 body and the audit log. */
export interface BudgetRefusal {
  readonly scope: "agent" | "run";
  readonly limit: keyof EgressBudget;
  readonly reason: string;
}

interface Counters {
  readonly requests: number[];
  tunnels: number;
  bytesUp: number;
  bytesDown: number;
  lastUsed: number;
}

/** In-process counters for one proxy: requests per minute, open tunnels, bytes each way. */
export interface BudgetLedger {
  /** Counts one request (or tunnel opening); refuses when a per-minute limit is reached. */
  admitRequest(who: EgressIdentity): BudgetRefusal | undefined;
  /** Opens a tunnel; returns a release function, or a refusal when too many are open. */
  openTunnel(who: EgressIdentity): BudgetRefusal | (() => void);
  /** Counts transferred bytes; a refusal means the connection must be cut now. */
  addBytes(who: EgressIdentity, direction: "up" | "down", bytes: number): BudgetRefusal | undefined;
  /** Refuses up front when a byte budget is already spent. */
  checkBytes(who: EgressIdentity): BudgetRefusal | undefined;
  /**
   * True when any byte budget is set: then relays count every chunk (to cut at the limit);
   * otherwise they may count once, at close, from the sockets' own byte counters.
   */
  readonly limitsBytes: boolean;
}

const WINDOW_MS = 60_000;
// Runs come and go; counters of runs idle this long are dropped so the map stays bounded.
const FORGET_AFTER_MS = 6 * 3_600_000;

/**
 * Creates the budget ledger. Per-agent counters live as long as the process; per-run counters
 * are forgotten six hours after their last use. `now` is injected for tests.
 *
 * @example const ledger = createBudgetLedger({ perRun: { requestsPerMinute: 60 } }, Date.now)
 */
export function createBudgetLedger(
  limits: { readonly perAgent?: EgressBudget; readonly perRun?: EgressBudget },
  now: () => number,
): BudgetLedger {
  const counters = new Map<string, Counters>();
  let lastSweep = now();

  function sweep(t: number): void {
    if (t - lastSweep < 60_000) return;
    lastSweep = t;
    for (const [key, c] of counters) {
      if (key.startsWith("run:") && c.tunnels === 0 && t - c.lastUsed > FORGET_AFTER_MS) counters.delete(key);
    }
  }

  function scopes(who: EgressIdentity): [BudgetRefusal["scope"], EgressBudget | undefined, Counters][] {
    const t = now();
    sweep(t);
    const pick = (key: string): Counters => {
      let c = counters.get(key);
      if (!c) {
        c = { requests: [], tunnels: 0, bytesUp: 0, bytesDown: 0, lastUsed: t };
        counters.set(key, c);
      }
      c.lastUsed = t;
      return c;
    };
    return [
      ["agent", limits.perAgent, pick(`agent:${who.agent}`)],
      ["run", limits.perRun, pick(`run:${who.agent}\0${who.run}`)],
    ];
  }

  function refusal(scope: BudgetRefusal["scope"], limit: keyof EgressBudget, value: number): BudgetRefusal {
    const what = {
      requestsPerMinute: `${value} requests per minute`,
      concurrentTunnels: `${value} concurrent tunnels`,
      bytesUp: `${value} bytes sent`,
      bytesDown: `${value} bytes received`,
    }[limit];
    return { scope, limit, reason: `${scope} budget of ${what} is spent` };
  }

  const limitsBytes = [limits.perAgent, limits.perRun].some((b) => b?.bytesUp !== undefined || b?.bytesDown !== undefined);
  return {
    limitsBytes,
    admitRequest(who) {
      const t = now();
      const all = scopes(who);
      for (const [scope, budget, c] of all) {
        const max = budget?.requestsPerMinute;
        if (max === undefined) continue;
        while (c.requests.length > 0 && (c.requests[0] ?? 0) <= t - WINDOW_MS) c.requests.shift();
        if (c.requests.length >= max) return refusal(scope, "requestsPerMinute", max);
      }
      for (const [, budget, c] of all) if (budget?.requestsPerMinute !== undefined) c.requests.push(t);
      return undefined;
    },
    openTunnel(who) {
      const all = scopes(who);
      for (const [scope, budget, c] of all) {
        const max = budget?.concurrentTunnels;
        if (max !== undefined && c.tunnels >= max) return refusal(scope, "concurrentTunnels", max);
      }
      for (const [, , c] of all) c.tunnels += 1;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        for (const [, , c] of all) c.tunnels -= 1;
      };
    },
    addBytes(who, direction, bytes) {
      let refused: BudgetRefusal | undefined;
      for (const [scope, budget, c] of scopes(who)) {
        if (direction === "up") c.bytesUp += bytes;
        else c.bytesDown += bytes;
        const max = direction === "up" ? budget?.bytesUp : budget?.bytesDown;
        const used = direction === "up" ? c.bytesUp : c.bytesDown;
        if (!refused && max !== undefined && used > max) refused = refusal(scope, direction === "up" ? "bytesUp" : "bytesDown", max);
      }
      return refused;
    },
    checkBytes(who) {
      for (const [scope, budget, c] of scopes(who)) {
        if (budget?.bytesUp !== undefined && c.bytesUp >= budget.bytesUp) return refusal(scope, "bytesUp", budget.bytesUp);
        if (budget?.bytesDown !== undefined && c.bytesDown >= budget.bytesDown) return refusal(scope, "bytesDown", budget.bytesDown);
      }
      return undefined;
    },
  };
}

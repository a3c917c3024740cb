// The check shape moved to src/core/check.ts so checks can depend on core only; the gate re-exports it.
export { stop, proceed } from "../core/index.js";
export type { Check, CheckContext, CheckOutcome } from "../core/index.js";

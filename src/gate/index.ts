export { createGate } from "./gate.js";
export type { Gate, GateDecision, GateOptions } from "./gate.js";
export { stop, proceed } from "./check.js";
export type { Check, CheckContext, CheckOutcome } from "./check.js";
export { policyCheck } from "./policy-check.js";

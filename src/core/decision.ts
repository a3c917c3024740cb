import type { Risk } from "./risk.js";

/** What the Gate says about an action. */
export type Verdict = "allow" | "deny" | "ask" | "dry-run";

/**
 * Why a decision came out as it did: a stable name for metrics and the audit log.
 *
 * INVARIANT: codes are append-only and never reused; they stay in audit logs forever.
 * Every code is documented in docs/errors.md (a test enforces it).
 */
export const DECISION_CODES = [
  "allowed-by-rule",
  "allowed-by-default",
  "denied-by-rule",
  "asked-by-rule",
  "asked-by-default",
  "asked-irreversible",
  "dry-run-by-rule",
  "dry-run-by-default",
  "agent-unknown",
  "agent-required",
  "tool-not-listed",
  "tool-not-for-agent",
  "args-invalid",
  "action-invalid",
  "rule-error",
  "gate-error",
  "audit-unavailable",
  "denied-by-default",
  "allowed-by-approval",
  "allowed-by-grant",
  "denied-by-approver",
  "approval-expired",
  "approval-error",
  "dry-run-mode",
  "tool-changed",
  "tool-poisoned",
  "sql-unclassified",
  "asked-by-sql-class",
  "secret-unavailable",
  "client-request-limited",
  "client-request-undeliverable",
] as const;

export type DecisionCode = (typeof DECISION_CODES)[number];

/**
 * The Gate's answer: a value, never an exception.
 *
 * `reasons` are sentences for people; `rules` are the ids of the policy rules that produced the
 * verdict (empty when a default or a built-in check decided).
 */
export interface Decision {
  readonly verdict: Verdict;
  readonly code: DecisionCode;
  readonly rules: readonly string[];
  readonly reasons: readonly string[];
  /** The tool's risk class, when the tool is known. */
  readonly risk?: Risk;
  /** How many distinct approvers an `ask` needs. */
  readonly approvers?: number;
  /** The arguments as checked (paths normalised); executors must run exactly these. */
  readonly args?: unknown;
  /** The environment the decision was made for. */
  readonly environment?: string;
  /** The agent the decision was made for. */
  readonly agent?: string;
  /** Digest of the policy that decided, so an approval can be bound to it. */
  readonly policyDigest?: string;
  /** With `ask`: the approval request a human answers; retrying the exact call after approval runs it. */
  readonly approval?: ApprovalRef;
}

/** Points at the approval request an `ask` created or found. */
export interface ApprovalRef {
  readonly id: string;
  /** ISO 8601; past it, the request counts as denied. */
  readonly expiresAt: string;
}

/** Builds a deny decision for a check that could not go on. */
export function denyDecision(code: DecisionCode, reason: string, extra: Partial<Decision> = {}): Decision {
  return { verdict: "deny", code, rules: [], reasons: [reason], ...extra };
}

/** The three risk classes a tool is placed in (DESIGN.md vocabulary). */
export const RISK_CLASSES = ["read-only", "low-risk-write", "high-risk-write"] as const;

/** How much damage a call to a tool can do. */
export type Risk = (typeof RISK_CLASSES)[number];

/** The environments an agent runs in. */
export const ENVIRONMENTS = ["development", "staging", "production"] as const;

export type Environment = (typeof ENVIRONMENTS)[number];

/** Returns true when `value` is one of the environments. */
export function isEnvironment(value: unknown): value is Environment {
  return typeof value === "string" && (ENVIRONMENTS as readonly string[]).includes(value);
}

/** Stable names for policy problems (append-only; documented in docs/errors.md). */
export const POLICY_ERROR_CODES = [
  "policy-unreadable",
  "policy-yaml",
  "policy-invalid",
  "policy-cel",
  "policy-regex",
  "policy-args-schema",
  "policy-reference",
] as const;

export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

/** One thing wrong with a policy file, with the place a person can open. */
export interface PolicyProblem {
  readonly code: PolicyErrorCode;
  readonly file: string;
  /** 1-based; 0 when the problem has no place in the file (it could not be read). */
  readonly line: number;
  readonly column: number;
  /** The field, as a dotted path (`tools.run_sql.risk`); empty for the whole file. */
  readonly field: string;
  readonly message: string;
  /** What to do about it, when there is something to say. */
  readonly help?: string;
}

/**
 * A policy that does not load. It carries every problem found, not just the first, so a person
 * can fix them all in one pass. A policy that throws this never half-loads.
 */
export class PolicyError extends Error {
  readonly code: PolicyErrorCode;
  readonly problems: readonly PolicyProblem[];

  constructor(problems: readonly PolicyProblem[]) {
    const first = problems[0];
    super(first ? formatProblem(first) : "policy is invalid");
    this.name = "PolicyError";
    this.code = first?.code ?? "policy-invalid";
    this.problems = problems;
  }
}

/** `file:line:col field: message` and, on a second line, `  help: …`. */
export function formatProblem(problem: PolicyProblem): string {
  const place = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
  const field = problem.field ? ` ${problem.field}:` : "";
  const help = problem.help ? `\n  help: ${problem.help}` : "";
  return `${place}:${field} ${problem.message}${help}`;
}

import { celEnv, celList, celMap, isCelError, parse, plan, type CelEnv } from "@bufbuild/cel";
import type { Expr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { CEL_VARIABLES } from "./schema.js";
import { closestMatch } from "./suggest.js";

/** The values a rule's expression sees. */
export interface CelActivation {
  readonly tool: string;
  readonly args: unknown;
  readonly risk: string;
  readonly irreversible: boolean;
  readonly agent: string;
  readonly environment: string;
  readonly principal: string;
  readonly run: string;
  readonly request: string;
}

/** String variables whose value a condition can pin with `==` or `in` in its top-level conjunction. */
export const PINNABLE_VARIABLES = ["tool", "risk", "agent", "environment", "principal"] as const;

export type PinnableVariable = (typeof PINNABLE_VARIABLES)[number];

/** A rule's condition, compiled once at load. */
export interface CompiledCondition {
  /** true/false, or an Error when evaluation failed (the gate denies on it). */
  evaluate(activation: CelActivation): boolean | Error;
  /** The tools the condition can match, when it pins `tool`; undefined when it can match any. */
  readonly tools: ReadonlySet<string> | undefined;
  /**
   * For each pinned variable, the only values with which the condition can be true. A rule whose
   * pins exclude the action's values cannot match, so the gate skips it without evaluating CEL.
   */
  readonly pins: ReadonlyMap<PinnableVariable, ReadonlySet<string>>;
}

/** Thrown for an expression that does not compile; `offset` is 0-based within the expression. */
export class CelCompileError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly help?: string,
  ) {
    super(message);
    this.name = "CelCompileError";
  }
}

const VARIABLES = new Set<string>(CEL_VARIABLES);

/**
 * Compiles one CEL expression (bufbuild's conformance-tested evaluator; `matches()` runs on RE2, so
 * a rule's regex cannot backtrack catastrophically). Checks at load that it names only the known
 * variables, and works out which tools it can apply to so the gate need not evaluate it for others.
 */
export function compileCondition(source: string, env: CelEnv = celEnv({})): CompiledCondition {
  let parsed;
  try {
    parsed = parse(source);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const match = /^<input>:(\d+):(\d+): (.*)$/s.exec(message);
    if (match) throw new CelCompileError(match[3]!, offsetOf(source, Number(match[1]), Number(match[2])));
    throw new CelCompileError(message, 0);
  }
  const root = parsed.expr;
  if (!root) throw new CelCompileError("expression is empty", 0);
  const positions = parsed.sourceInfo?.positions ?? {};
  checkIdentifiers(root, new Set(), (name, id) => {
    const hint = closestMatch(name, VARIABLES);
    throw new CelCompileError(
      `unknown variable \`${name}\``,
      positions[id.toString()] ?? 0,
      hint ? `did you mean \`${hint}\`?` : `the variables are ${CEL_VARIABLES.join(", ")}`,
    );
  });
  const run = plan(env, parsed);
  const pins = pinnedValues(root);
  return {
    tools: pins.get("tool"),
    pins,
    evaluate(activation) {
      let result: unknown;
      try {
        result = run(activation as unknown as Record<string, never>);
      } catch (error) {
        return error instanceof Error ? error : new Error(String(error));
      }
      if (isCelError(result)) return new Error(result.message);
      if (typeof result !== "boolean") return new Error(`expression gave a ${typeof result}, not a bool`);
      return result;
    },
  };
}

/**
 * Converts JSON arguments to CEL values once per decision, so the rules evaluated for one call
 * share one conversion instead of each copying every object into a Map again. It also sidesteps
 * the evaluator's own conversion, which recognises plain objects by `constructor.name` and so
 * fails on arguments that carry a key named `constructor`.
 */
export function toCelArgs(value: unknown): unknown {
  if (Array.isArray(value)) return celList(value.map(toCelArgs) as never[]);
  if (value !== null && typeof value === "object") {
    return celMap(new Map(Object.entries(value).map(([key, item]) => [key, toCelArgs(item)])) as never);
  }
  return value;
}

function offsetOf(source: string, line: number, column: number): number {
  const lines = source.split("\n");
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i]!.length + 1;
  return offset + Math.max(0, column - 1);
}

/** Walks the AST; calls `unknown` for an identifier that is neither a variable nor a bound loop variable. */
function checkIdentifiers(expr: Expr, bound: Set<string>, unknown: (name: string, id: bigint) => void): void {
  const kind = expr.exprKind;
  switch (kind.case) {
    case "identExpr":
      if (!VARIABLES.has(kind.value.name) && !bound.has(kind.value.name)) unknown(kind.value.name, expr.id);
      return;
    case "selectExpr":
      if (kind.value.operand) checkIdentifiers(kind.value.operand, bound, unknown);
      return;
    case "callExpr":
      if (kind.value.target) checkIdentifiers(kind.value.target, bound, unknown);
      for (const arg of kind.value.args) checkIdentifiers(arg, bound, unknown);
      return;
    case "listExpr":
      for (const element of kind.value.elements) checkIdentifiers(element, bound, unknown);
      return;
    case "structExpr":
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === "mapKey") checkIdentifiers(entry.keyKind.value, bound, unknown);
        if (entry.value) checkIdentifiers(entry.value, bound, unknown);
      }
      return;
    case "comprehensionExpr": {
      const c = kind.value;
      if (c.iterRange) checkIdentifiers(c.iterRange, bound, unknown);
      if (c.accuInit) checkIdentifiers(c.accuInit, bound, unknown);
      const inner = new Set(bound);
      for (const name of [c.iterVar, c.iterVar2, c.accuVar]) if (name) inner.add(name);
      for (const part of [c.loopCondition, c.loopStep, c.result]) if (part) checkIdentifiers(part, inner, unknown);
      return;
    }
    case "constExpr":
    case undefined:
      return;
  }
}

/**
 * The values an expression's variables must have for it to be true, read off its top-level
 * conjunction: a conjunct `tool == "x"`, `"x" == tool` or `tool in ["x", "y"]` pins `tool`.
 * Anything else (a disjunction, a negation, a computed value) pins nothing, which is always safe:
 * an unpinned rule is evaluated for every action.
 */
function pinnedValues(expr: Expr): Map<PinnableVariable, Set<string>> {
  const pins = new Map<PinnableVariable, Set<string>>();
  for (const conjunct of conjuncts(expr)) {
    const pin = pinOf(conjunct);
    if (!pin) continue;
    const [name, values] = pin;
    const existing = pins.get(name);
    pins.set(name, existing ? new Set([...existing].filter((v) => values.has(v))) : values);
  }
  return pins;
}

function conjuncts(expr: Expr): Expr[] {
  const kind = expr.exprKind;
  if (kind.case === "callExpr" && kind.value.function === "_&&_") return kind.value.args.flatMap(conjuncts);
  return [expr];
}

function pinOf(expr: Expr): [PinnableVariable, Set<string>] | undefined {
  const kind = expr.exprKind;
  if (kind.case !== "callExpr") return undefined;
  const [left, right] = kind.value.args;
  if (!left || !right) return undefined;
  if (kind.value.function === "_==_") {
    for (const [ident, constant] of [
      [left, right],
      [right, left],
    ] as const) {
      const name = pinnableIdent(ident);
      const value = stringConstant(constant);
      if (name && value !== undefined) return [name, new Set([value])];
    }
    return undefined;
  }
  if (kind.value.function === "@in" && right.exprKind.case === "listExpr") {
    const name = pinnableIdent(left);
    const values = right.exprKind.value.elements.map(stringConstant);
    if (!name || values.some((v) => v === undefined)) return undefined;
    return [name, new Set(values as string[])];
  }
  return undefined;
}

function pinnableIdent(expr: Expr): PinnableVariable | undefined {
  if (expr.exprKind.case !== "identExpr") return undefined;
  const name = expr.exprKind.value.name;
  return (PINNABLE_VARIABLES as readonly string[]).includes(name) ? (name as PinnableVariable) : undefined;
}

function stringConstant(expr: Expr): string | undefined {
  if (expr.exprKind.case !== "constExpr") return undefined;
  const constant = expr.exprKind.value.constantKind;
  return constant.case === "stringValue" ? constant.value : undefined;
}

import { readFile } from "node:fs/promises";
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode, type Pair } from "yaml";
import { z } from "zod";
import type { Risk, Verdict } from "../core/index.js";
import { canonicalJson, sha256Hex } from "../core/index.js";
import { ArgsSchemaError, compileArgsCheck, createArgsCompiler, type ArgsCheck } from "./args.js";
import { CelCompileError, compileCondition, type CompiledCondition } from "./cel.js";
import { checkSecretBindings } from "./sections/secrets.js";
import { PolicyError, type PolicyErrorCode, type PolicyProblem } from "./errors.js";
import { PolicySchema, type AgentConfig, type PolicyFile, type RuleConfig } from "./schema.js";
import { closestMatch } from "./suggest.js";

/** Policy files larger than this are refused before parsing: a policy is configuration, not data. */
export const MAX_POLICY_BYTES = 1024 * 1024;

/** A tool as the gate uses it: its risk and its compiled argument check. */
export interface CompiledTool {
  readonly name: string;
  readonly risk: Risk;
  readonly irreversible: boolean;
  readonly description?: string;
  readonly checkArgs: ArgsCheck;
}

/** A rule as the gate uses it. */
export interface CompiledRule {
  readonly id: string;
  readonly description?: string;
  readonly when: string;
  readonly decision: Verdict;
  readonly approvers?: number;
  readonly reason?: string;
  readonly condition: CompiledCondition;
}

/** A policy that loaded: frozen, compiled, and ready for `evaluatePolicy`. */
export interface CompiledPolicy {
  readonly source: string;
  /** SHA-256 of the policy's canonical JSON: which policy decided, for approvals and the audit log. */
  readonly digest: string;
  readonly file: Readonly<PolicyFile>;
  readonly agents: ReadonlyMap<string, Readonly<AgentConfig> & { readonly toolSet?: ReadonlySet<string> }>;
  /** The agent's name when the policy declares exactly one: actions may then omit it. */
  readonly onlyAgent: string | undefined;
  readonly tools: ReadonlyMap<string, CompiledTool>;
  readonly rules: readonly CompiledRule[];
  /** For each tool, the rules that can apply to it, in file order. */
  readonly rulesByTool: ReadonlyMap<string, readonly CompiledRule[]>;
  /** Things that load but deserve a look (e.g. a tool with no argument schema). */
  readonly warnings: readonly PolicyProblem[];
}

/**
 * Reads and compiles a policy file. Throws `PolicyError` listing every problem, each with its
 * `file:line:col`; a policy never half-loads.
 *
 * @example
 * const policy = await loadPolicyFile("gatehouse.yaml");
 */
export async function loadPolicyFile(path: string): Promise<CompiledPolicy> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > MAX_POLICY_BYTES) {
      throw new PolicyError([
        problem("policy-unreadable", path, 0, 0, "", `file is larger than ${MAX_POLICY_BYTES} bytes`),
      ]);
    }
    text = bytes.toString("utf8");
  } catch (error) {
    if (error instanceof PolicyError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : String(error);
    throw new PolicyError([
      problem("policy-unreadable", path, 0, 0, "", `cannot read policy: ${reason}`, "check the path given with --policy"),
    ]);
  }
  return parsePolicy(text, path);
}

/** Compiles policy text; `file` names it in messages. Same guarantees as `loadPolicyFile`. */
export function parsePolicy(text: string, file = "<policy>"): CompiledPolicy {
  if (text.length > MAX_POLICY_BYTES) {
    throw new PolicyError([problem("policy-unreadable", file, 0, 0, "", `policy is larger than ${MAX_POLICY_BYTES} bytes`)]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true, strict: true });
  const locate = locator(doc, lines, file);
  if (doc.errors.length > 0) {
    throw new PolicyError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0] ?? { line: 1, col: 1 };
        return problem("policy-yaml", file, pos.line, pos.col, "", yamlMessage(e.message));
      }),
    );
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 50 });
  } catch (error) {
    throw new PolicyError([problem("policy-yaml", file, 1, 1, "", error instanceof Error ? error.message : String(error))]);
  }
  if (data === null || data === undefined) {
    throw new PolicyError([
      problem("policy-invalid", file, 1, 1, "", "policy is empty", "start with `version: 1`, then `agents:` and `tools:`"),
    ]);
  }
  const parsed = PolicySchema.safeParse(data);
  if (!parsed.success) {
    throw new PolicyError(parsed.error.issues.map((issue) => ({ ...zodProblem(issue, locate, data), file })));
  }
  return compile(parsed.data, text, file, locate);
}

type Locate = (path: readonly (string | number)[], key?: string) => { line: number; column: number };

function compile(policy: PolicyFile, source: string, file: string, locate: Locate): CompiledPolicy {
  const problems: PolicyProblem[] = [];
  const warnings: PolicyProblem[] = [];
  const at = (code: PolicyErrorCode, path: (string | number)[], message: string, help?: string, key?: string) => {
    const { line, column } = locate(path, key);
    problems.push(problem(code, file, line, column, fieldName(path), message, help));
  };

  const ajv = createArgsCompiler();
  const tools = new Map<string, CompiledTool>();
  for (const [name, tool] of Object.entries(policy.tools)) {
    if (!tool.args) {
      const { line, column } = locate(["tools", name]);
      warnings.push(
        problem("policy-args-schema", file, line, column, `tools.${name}`, "no `args` schema: any arguments pass", "narrow the tool with an `args` schema"),
      );
    }
    try {
      tools.set(name, {
        name,
        risk: tool.risk,
        irreversible: tool.irreversible ?? false,
        ...(tool.description === undefined ? {} : { description: tool.description }),
        checkArgs: compileArgsCheck(ajv, tool.args),
      });
    } catch (error) {
      if (!(error instanceof ArgsSchemaError)) throw error;
      at(error.kind === "regex" ? "policy-regex" : "policy-args-schema", ["tools", name, "args", ...error.schemaPath], error.message);
    }
  }

  const agents = new Map<string, AgentConfig & { toolSet?: ReadonlySet<string> }>();
  for (const [name, agent] of Object.entries(policy.agents)) {
    agent.tools?.forEach((tool, i) => {
      if (!policy.tools[tool]) at("policy-reference", ["agents", name, "tools", i], `tool \`${tool}\` is not listed under \`tools\``, didYouMean(tool, Object.keys(policy.tools)));
    });
    agents.set(name, { ...agent, ...(agent.tools ? { toolSet: new Set(agent.tools) } : {}) });
  }

  const rules: CompiledRule[] = [];
  const seen = new Map<string, number>();
  (policy.rules ?? []).forEach((rule: RuleConfig, index) => {
    if (seen.has(rule.id)) {
      at("policy-invalid", ["rules", index, "id"], `rule id \`${rule.id}\` is already used by rule ${seen.get(rule.id)! + 1}`, "give every rule a unique id");
      return;
    }
    seen.set(rule.id, index);
    let condition: CompiledCondition;
    try {
      condition = compileCondition(rule.when);
    } catch (error) {
      if (!(error instanceof CelCompileError)) throw error;
      const base = locate(["rules", index, "when"]);
      const { line, column } = celPosition(base, rule.when, error.offset, source, lines(source));
      problems.push(problem("policy-cel", file, line, column, `rules[${index}].when`, error.message, error.help));
      return;
    }
    for (const tool of condition.tools ?? []) {
      if (!policy.tools[tool]) {
        at("policy-reference", ["rules", index, "when"], `rule \`${rule.id}\` names tool \`${tool}\`, which is not listed under \`tools\``, didYouMean(tool, Object.keys(policy.tools)));
      }
    }
    rules.push({
      id: rule.id,
      when: rule.when,
      decision: rule.decision,
      condition,
      ...(rule.description === undefined ? {} : { description: rule.description }),
      ...(rule.approvers === undefined ? {} : { approvers: rule.approvers }),
      ...(rule.reason === undefined ? {} : { reason: rule.reason }),
    });
  });

  if (policy.secrets) {
    for (const binding of checkSecretBindings(policy.secrets, tools.keys())) {
      const path = binding.field.split(".").map((part) => (/^\d+$/.test(part) ? Number(part) : part));
      at("policy-reference", path, binding.message, didYouMean(String(valueAt(policy, path)), [...tools.keys()]));
    }
  }

  if (problems.length > 0) throw new PolicyError(problems);

  // Slice the rules per tool once: a rule pinned to other tools or another risk class can never
  // match this tool's calls, so `decide` does not look at it.
  const rulesByTool = new Map<string, CompiledRule[]>();
  for (const tool of tools.values()) {
    rulesByTool.set(
      tool.name,
      rules.filter((rule) => {
        const { pins } = rule.condition;
        return (pins.get("tool")?.has(tool.name) ?? true) && (pins.get("risk")?.has(tool.risk) ?? true);
      }),
    );
  }

  return Object.freeze({
    source: file,
    digest: sha256Hex(canonicalJson(policy)),
    file: deepFreeze(policy),
    agents,
    onlyAgent: agents.size === 1 ? [...agents.keys()][0] : undefined,
    tools,
    rules,
    rulesByTool,
    warnings,
  });
}

function lines(source: string): string[] {
  return source.split("\n");
}

/**
 * Maps an offset inside a rule's `when` expression to a place in the file. Exact for single-line
 * plain and quoted scalars; for block scalars it counts lines inside the block.
 */
function celPosition(
  base: { line: number; column: number },
  expression: string,
  offset: number,
  _source: string,
  fileLines: string[],
): { line: number; column: number } {
  const before = expression.slice(0, offset);
  const lineInExpr = before.split("\n").length - 1;
  const col = offset - (before.lastIndexOf("\n") + 1);
  const baseLine = fileLines[base.line - 1] ?? "";
  const startChar = baseLine[base.column - 1];
  if (startChar === "|" || startChar === ">") {
    // The block's indentation is its first body line's; deeper lines keep their extra spaces in
    // the expression itself, so they are already counted in `col`.
    const firstBodyLine = fileLines[base.line] ?? "";
    const indent = firstBodyLine.length - firstBodyLine.trimStart().length;
    return { line: base.line + 1 + lineInExpr, column: indent + col + 1 };
  }
  const quote = startChar === '"' || startChar === "'" ? 1 : 0;
  return { line: base.line + lineInExpr, column: (lineInExpr === 0 ? base.column + quote : 1) + col };
}

function locator(doc: Document, lineCounter: LineCounter, _file: string): Locate {
  return (path, key) => {
    let node: unknown = doc.contents;
    let last: unknown = node;
    for (const segment of path) {
      if (isMap(node)) {
        const pair = node.items.find((p: Pair) => isScalar(p.key) && String(p.key.value) === String(segment));
        if (!pair) break;
        node = pair.value;
        last = pair.value ?? pair.key;
      } else if (isSeq(node) && typeof segment === "number") {
        node = node.items[segment];
        if (!node) break;
        last = node;
      } else break;
    }
    if (key !== undefined && isMap(last)) {
      const pair = last.items.find((p: Pair) => isScalar(p.key) && String(p.key.value) === key);
      if (pair && isScalar(pair.key)) last = pair.key;
    }
    const range = (last as YamlNode | undefined)?.range;
    const pos = lineCounter.linePos(range ? range[0] : 0);
    return { line: pos.line, column: pos.col };
  };
}

function zodProblem(issue: z.core.$ZodIssue, locate: Locate, data: unknown): PolicyProblem {
  const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
  const field = fieldName(path);
  const here = (key?: string) => locate(path, key);
  switch (issue.code) {
    case "unrecognized_keys": {
      const key = issue.keys[0] ?? "";
      const known = knownKeys(path, data);
      const { line, column } = here(key);
      const keyField = field ? `${field}.${key}` : key;
      return problem("policy-invalid", "", line, column, keyField, `unknown key \`${key}\``, didYouMean(key, known) ?? (known.length ? `expected one of ${known.map((k) => `\`${k}\``).join(", ")}` : undefined));
    }
    case "invalid_value": {
      const values = issue.values.map((v) => String(v));
      const actual = valueAt(data, path);
      const { line, column } = here();
      if (actual === undefined) {
        const parent = locate(path.slice(0, -1));
        return problem("policy-invalid", "", parent.line, parent.column, field, `missing required field \`${String(path[path.length - 1])}\` (expected ${values.map((v) => `\`${v}\``).join(" or ")})`);
      }
      return problem("policy-invalid", "", line, column, field, values.length === 1 ? `expected \`${values[0]}\`` : `expected one of ${values.map((v) => `\`${v}\``).join(", ")}`, typeof actual === "string" ? didYouMean(actual, values) : undefined);
    }
    case "invalid_type": {
      const actual = valueAt(data, path);
      const { line, column } = here();
      if (actual === undefined) {
        const parent = locate(path.slice(0, -1));
        return problem("policy-invalid", "", parent.line, parent.column, field, `missing required field \`${String(path[path.length - 1])}\` (expected ${issue.expected})`);
      }
      return problem("policy-invalid", "", line, column, field, `expected ${issue.expected}, got ${describeType(actual)}`);
    }
    case "invalid_key": {
      const { line, column } = here(String(path[path.length - 1]));
      return problem("policy-invalid", "", line, column, field, `\`${String(path[path.length - 1])}\` is not a valid name`, "names are letters, digits, `_`, `.`, `:`, `/` and `-`, up to 128 characters, not starting with a punctuation mark");
    }
    case "too_small":
    case "too_big": {
      const { line, column } = here();
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const word = issue.code === "too_small" ? "at least" : "at most";
      const unit = issue.origin === "array" ? " item(s)" : issue.origin === "string" ? " character(s)" : "";
      return problem("policy-invalid", "", line, column, field, issue.message.startsWith("Too") ? `must be ${word} ${String(bound)}${unit}` : lowerFirst(issue.message));
    }
    default: {
      const { line, column } = here();
      return problem("policy-invalid", "", line, column, field, lowerFirst(issue.message));
    }
  }
}

function knownKeys(path: readonly (string | number)[], data: unknown): string[] {
  let schema: z.ZodType = PolicySchema;
  for (const segment of path) {
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodType>)[String(segment)] ?? schema;
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType;
    else return [];
  }
  schema = unwrap(schema);
  void data;
  if (schema instanceof z.ZodRecord && schema.keyType instanceof z.ZodEnum) return (schema.keyType.options as string[]).map(String);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (let i = 0; i < 10; i++) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodDefault) current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodLazy) current = current.unwrap() as z.ZodType;
    else if (current instanceof z.ZodUnion) {
      const object = (current.options as z.ZodType[]).find((o) => unwrap(o) instanceof z.ZodObject);
      if (!object) return current;
      current = object;
    } else if (current instanceof z.ZodPipe) current = current.in as z.ZodType;
    else return current;
  }
  return current;
}

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let node = data;
  for (const segment of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string | number, unknown>)[segment];
  }
  return node;
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return `${typeof value} \`${JSON.stringify(value)}\``;
}

function fieldName(path: readonly (string | number)[]): string {
  return path.reduce<string>((acc, segment) => (typeof segment === "number" ? `${acc}[${segment}]` : acc ? `${acc}.${segment}` : segment), "");
}

function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  const hint = closestMatch(word, candidates);
  return hint ? `did you mean \`${hint}\`?` : undefined;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function yamlMessage(message: string): string {
  // prettyErrors appends " at line L, column C:" and a code frame; the place is reported apart.
  return lowerFirst(message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "").trim());
}

function problem(
  code: PolicyErrorCode,
  file: string,
  line: number,
  column: number,
  field: string,
  message: string,
  help?: string,
): PolicyProblem {
  return { code, file, line, column, field, message, ...(help === undefined ? {} : { help }) };
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

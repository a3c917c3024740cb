import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument, isMap, isSeq, type Node } from "yaml";
import { SecretError } from "./errors.js";
import type { z } from "zod";
import { SecretsConfigSchema, type SecretsConfig, type SecretsConfigProblem } from "../policy/index.js";


/** A `secrets:` section that does not validate; carries every problem, not just the first. */
export class SecretsConfigError extends SecretError {
  readonly problems: readonly SecretsConfigProblem[];

  constructor(problems: readonly SecretsConfigProblem[]) {
    super("secrets-config-invalid", problems.map(formatConfigProblem).join("\n") || "the secrets section is invalid", {
      help: "see docs/secrets.md for the `secrets:` section",
    });
    this.problems = problems;
  }
}

/** `file:line:col field: message`. */
export function formatConfigProblem(problem: SecretsConfigProblem): string {
  const place = problem.line > 0 ? `${problem.file}:${problem.line}:${problem.column}` : problem.file;
  return `${place}: ${problem.field}: ${problem.message}`;
}

/**
 * Validates a parsed `secrets:` section (the value under the policy's `secrets` key). Throws
 * `SecretsConfigError` listing every problem.
 *
 * @example
 * const config = parseSecretsConfig(yaml.parse(text).secrets);
 */
export function parseSecretsConfig(value: unknown, file = "<secrets>"): SecretsConfig {
  const result = SecretsConfigSchema.safeParse(value ?? {});
  if (result.success) return result.data;
  throw new SecretsConfigError(
    result.error.issues.map((issue) => ({
      file,
      line: 0,
      column: 0,
      field: ["secrets", ...issue.path.map(String)].join("."),
      message: issueMessage(issue),
    })),
  );
}

/**
 * Reads a policy file and validates its `secrets:` section, giving each problem its line and
 * column. The rest of the file is the policy loader's business and is not checked here.
 */
export async function loadSecretsConfigFile(path: string): Promise<SecretsConfig> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new SecretsConfigError([{ file: path, line: 0, column: 0, field: "", message: `cannot read the file (${code})` }]);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new SecretsConfigError(
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        return { file: path, line: pos?.line ?? 0, column: pos?.col ?? 0, field: "", message: e.message.split("\n")[0] ?? "invalid YAML" };
      }),
    );
  }
  const root: unknown = doc.toJS();
  const section = typeof root === "object" && root !== null ? (root as Record<string, unknown>).secrets : undefined;
  const result = SecretsConfigSchema.safeParse(section ?? {});
  if (result.success) return result.data;
  throw new SecretsConfigError(
    result.error.issues.map((issue) => {
      const path_ = ["secrets", ...issue.path.map(String)];
      // An unknown key is shown where the key is, not where its object starts.
      const at = issue.code === "unrecognized_keys" && issue.keys[0] !== undefined ? [...path_, issue.keys[0]] : path_;
      const node = nearestNode(doc.contents, at, issue.code === "unrecognized_keys" || issue.code === "invalid_key");
      const pos = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
      return { file: path, line: pos?.line ?? 0, column: pos?.col ?? 0, field: path_.join("."), message: issueMessage(issue) };
    }),
  );
}

/** zod's message, with the key's own message for a bad record key. */
function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === "invalid_key") {
    const inner = issue.issues[0]?.message;
    const key = issue.path[issue.path.length - 1];
    if (inner) return `name \`${String(key)}\`: ${inner}`;
  }
  return issue.message;
}

/** The deepest node along `path` that exists (a missing key points at its parent); `key`: the last step's key, not its value. */
function nearestNode(root: unknown, path: readonly string[], key = false): Node | undefined {
  let node = root as Node | undefined;
  for (const [index, step] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (p.key as { value?: unknown } | null)?.value === step);
      if (!pair) return node;
      const value = pair.value as Node | null;
      if (value === null || (key && index === path.length - 1)) return pair.key as Node;
      node = value;
    } else if (isSeq(node)) {
      const item = node.items[Number(step)] as Node | undefined;
      if (!item) return node;
      node = item;
    } else {
      return node;
    }
  }
  return node;
}

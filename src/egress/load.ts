import { readFile } from "node:fs/promises";
import { isNode, LineCounter, parseDocument } from "yaml";
import { EgressError } from "./errors.js";
import { egressPolicySchema, type EgressPolicy } from "./schema.js";

/**
 * Reads the `egress:` section of a policy file and validates it strictly. Every problem is
 * reported at once, each as `file:line:col egress.field: message`; a file with any problem
 * throws `egress-config-invalid` and nothing is half-loaded. (The policy file schema mounts the
 * same {@link egressPolicySchema}, owned by src/policy/sections/egress.ts; this reader is for
 * `gatehouse egress --policy`, which needs only this section.)
 *
 * @example const policy = await loadEgressPolicy("gatehouse.yaml")
 */
export async function loadEgressPolicy(file: string): Promise<EgressPolicy> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new EgressError("egress-config-invalid", `${file}: cannot read the policy file: ${error instanceof Error ? error.message : String(error)}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = lineCounter.linePos(e.pos[0]);
      return `${file}:${pos.line}:${pos.col}: ${e.message.split("\n")[0] ?? "YAML error"}`;
    });
    throw new EgressError("egress-config-invalid", lines.join("\n"));
  }
  const root: unknown = doc.toJS();
  if (root === null || typeof root !== "object" || !("egress" in root)) {
    throw new EgressError("egress-config-invalid", `${file}: no \`egress:\` section\n  help: add one, e.g. egress: { profiles: { default: { allow: [] } } }`);
  }
  const parsed = egressPolicySchema.safeParse((root).egress);
  if (parsed.success) return Object.freeze(parsed.data);
  const lines = parsed.error.issues.map((issue) => {
    const path = ["egress", ...issue.path.map(String)];
    const node = doc.getIn(path, true);
    let place = file;
    if (isNode(node) && node.range) {
      const pos = lineCounter.linePos(node.range[0]);
      place = `${file}:${pos.line}:${pos.col}`;
    } else {
      const parent = doc.getIn(path.slice(0, -1), true);
      if (isNode(parent) && parent.range) {
        const pos = lineCounter.linePos(parent.range[0]);
        place = `${file}:${pos.line}:${pos.col}`;
      }
    }
    return `${place} ${path.join(".")}: ${issue.message}`;
  });
  throw new EgressError("egress-config-invalid", lines.join("\n"));
}

import type { Risk } from "../../core/index.js";

/** The MCP tool annotations the risk seeding reads (all are hints from the server, untrusted). */
export interface ToolHints {
  readonly readOnlyHint?: boolean | undefined;
  readonly destructiveHint?: boolean | undefined;
  readonly idempotentHint?: boolean | undefined;
  readonly openWorldHint?: boolean | undefined;
}

/** A seeded risk class and the sentence saying where it came from. */
export interface SeededRisk {
  readonly risk: Risk;
  readonly source: string;
}

/**
 * Seeds a risk class for a tool the policy does not classify, from its MCP annotations (spec
 * 2025-03-26 on, `ToolAnnotations`). The order, written down once:
 *
 * 1. `readOnlyHint: true` → `read-only`;
 * 2. `destructiveHint: false` and (`idempotentHint: true` or `openWorldHint: false`) → `low-risk-write`
 *    (additive, and either repeatable or confined to a closed world);
 * 3. anything else, including no annotations at all → `high-risk-write` (the spec's defaults are
 *    `destructiveHint: true`, `openWorldHint: true`).
 *
 * Threat: annotations come from the server, so a hostile server can claim `readOnlyHint`. They are
 * only consulted for tools the operator chose to expose unlisted (`exposeUnlisted`), and a change to
 * them is a pinned-tool change that blocks the tool until a human re-approves it.
 *
 * @example
 * seedRiskFromAnnotations({ readOnlyHint: true }).risk // "read-only"
 */
export function seedRiskFromAnnotations(hints: ToolHints | undefined): SeededRisk {
  if (hints?.readOnlyHint === true) return { risk: "read-only", source: "annotation readOnlyHint: true" };
  if (hints?.destructiveHint === false && (hints.idempotentHint === true || hints.openWorldHint === false)) {
    return {
      risk: "low-risk-write",
      source: `annotations destructiveHint: false, ${hints.idempotentHint === true ? "idempotentHint: true" : "openWorldHint: false"}`,
    };
  }
  return { risk: "high-risk-write", source: hints ? "annotations do not show a read-only or contained tool" : "no annotations" };
}

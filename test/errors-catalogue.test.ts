import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..");
const docs = readdirSync(join(root, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => readFileSync(join(root, "docs", f), "utf8"))
  .join("\n");
const documented = new Set([...docs.matchAll(/^\|\s*`([a-z0-9.:_-]+)`[^|`]*\|/gm)].map((m) => m[1]!));

/** Every `*_CODES` list a folder's public face exports is a catalogue of codes people will see. */
const faces = readdirSync(join(root, "src"), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);
const catalogues: [string, string][] = [];
for (const folder of faces) {
  let face: Record<string, unknown>;
  try {
    face = (await import(join(root, "src", folder, "index.ts"))) as Record<string, unknown>;
  } catch {
    continue; // a folder without a public face has nothing to document
  }
  for (const [name, value] of Object.entries(face)) {
    if (name.endsWith("_CODES") && Array.isArray(value)) {
      for (const code of value) catalogues.push([`${folder}.${name}`, String(code)]);
    }
  }
}

describe("the error catalogue", () => {
  it("found the catalogues to check", () => {
    expect(catalogues.some(([name]) => name === "core.DECISION_CODES")).toBe(true);
    expect(catalogues.some(([name]) => name === "policy.POLICY_ERROR_CODES")).toBe(true);
  });

  it.each(catalogues)("%s `%s` is documented in docs/", (_catalogue, code) => {
    expect(documented.has(code)).toBe(true);
  });
});

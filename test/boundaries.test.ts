import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * Guards the layout DESIGN.md draws: a folder is reached only through its index.ts; core imports
 * nothing else from src/; the gate imports no store, entry point or CLI; checks never import the
 * gate; nothing imports the CLI.
 */
const src = join(import.meta.dirname, "..", "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith(".ts") && !path.endsWith(".test.ts") ? [path] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const patterns = [
    /\b(?:import|export)\s[^"';]*?\bfrom\s*["']([^"']+)["']/g, // import { x } from "…", export { x } from "…"
    /\bimport\s*["']([^"']+)["']/g, // import "…" for side effects
    /\bimport\(\s*["']([^"']+)["']\s*\)/g, // import("…")
  ];
  return patterns.flatMap((pattern) => [...text.matchAll(pattern)])
    .map((m) => m[1]!)
    .filter((spec) => spec.startsWith("."));
}

const folderOf = (path: string) => relative(src, path).split(sep)[0]!;
/**
 * Second, smaller faces for what runs at every start (`gatehouse run` opens the audit log): a
 * subset of their folder's index.ts, so a command does not load what it never calls.
 */
const NARROW_FACES = new Set([join("audit", "writer.ts"), join("store", "writer.ts"), join("integrations", "claude-code", "client.ts")]);
const ENTRY_POINTS = new Set(["cli", "integrations", "server", "demo"]);
const CHECKS = new Set(["policy", "approvals", "secrets", "audit", "dryrun", "provenance", "limits"]);

const edges = sourceFiles(src).flatMap((file) =>
  importsOf(file).map((spec) => {
    const target = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
    return { file: relative(src, file), from: folderOf(file), to: folderOf(target), target: relative(src, target) };
  }),
);
// src/index.ts, the package face, sits above the folders and may import any folder's index.
const crossing = edges.filter((e) => e.from !== e.to && e.file.includes(sep));

describe("module boundaries", () => {
  it("found the source tree", () => {
    expect(edges.length).toBeGreaterThan(20);
  });

  it("reaches another folder only through its index.ts (or a narrow face that index.ts re-exports)", () => {
    const offenders = crossing.filter((e) => e.target !== "index.ts" && !e.target.endsWith(`${sep}index.ts`) && !NARROW_FACES.has(e.target));
    expect(offenders.map((e) => `${e.file} imports ${e.target}`)).toEqual([]);
  });

  it.each([...NARROW_FACES])("re-exports every name of the narrow face %s from its folder's index.ts", async (face) => {
    const narrow = (await import(join(src, face))) as Record<string, unknown>;
    const index = (await import(join(src, dirname(face), "index.ts"))) as Record<string, unknown>;
    expect(Object.keys(narrow).length).toBeGreaterThan(0);
    for (const [name, value] of Object.entries(narrow)) expect(index[name], name).toBe(value);
  });

  it("keeps the hook's forwarding face light: only errors.ts and node built-ins, no package (zod, the policy, the judges)", () => {
    const client = join(src, "integrations", "claude-code", "client.ts");
    const seen = new Set<string>();
    const visit = (file: string): void => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(file)) visit(resolve(dirname(file), spec.replace(/\.js$/, ".ts")));
    };
    visit(client);
    expect([...seen].map((f) => relative(src, f)).sort()).toEqual([join("integrations", "claude-code", "client.ts"), join("integrations", "claude-code", "errors.ts")]);
    for (const file of seen) {
      const packages = [...readFileSync(file, "utf8").matchAll(/\bfrom\s*["']([^"'.][^"']*)["']/g)].map((m) => m[1]!).filter((spec) => !spec.startsWith("node:"));
      expect(packages, relative(src, file)).toEqual([]);
    }
  });

  it("keeps core free of other src folders", () => {
    expect(crossing.filter((e) => e.from === "core").map((e) => `${e.file} imports ${e.target}`)).toEqual([]);
  });

  it("keeps the gate free of stores, entry points and the CLI", () => {
    const banned = new Set(["store", "sandbox", "egress", ...ENTRY_POINTS]);
    expect(crossing.filter((e) => e.from === "gate" && banned.has(e.to)).map((e) => `${e.file} imports ${e.target}`)).toEqual([]);
  });

  it("never lets a check import the gate or an entry point", () => {
    const banned = new Set(["gate", ...ENTRY_POINTS]);
    expect(crossing.filter((e) => CHECKS.has(e.from) && banned.has(e.to)).map((e) => `${e.file} imports ${e.target}`)).toEqual([]);
  });

  it("keeps policy on core alone: it owns every section of the policy file's schema", () => {
    expect(crossing.filter((e) => e.from === "policy" && e.to !== "core").map((e) => `${e.file} imports ${e.target}`)).toEqual([]);
  });

  it("never imports the CLI from outside it", () => {
    expect(crossing.filter((e) => e.to === "cli").map((e) => `${e.file} imports ${e.target}`)).toEqual([]);
  });
});

describe("folder dependencies", () => {
  it("have no cycles", () => {
    const graph = new Map<string, Set<string>>();
    for (const e of crossing) {
      if (!graph.has(e.from)) graph.set(e.from, new Set());
      graph.get(e.from)!.add(e.to);
    }
    const cycles: string[] = [];
    const visit = (node: string, path: string[]) => {
      if (path.includes(node)) {
        cycles.push([...path.slice(path.indexOf(node)), node].join(" → "));
        return;
      }
      for (const next of graph.get(node) ?? []) visit(next, [...path, node]);
    };
    for (const node of graph.keys()) visit(node, []);
    expect([...new Set(cycles)]).toEqual([]);
  });
});

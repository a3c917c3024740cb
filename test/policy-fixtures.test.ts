import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { formatProblem, loadPolicyFile, PolicyError } from "../src/policy/index.js";

const root = join(import.meta.dirname, "..");
const badDir = join(import.meta.dirname, "fixtures/policies/bad");
const bad = readdirSync(badDir).filter((f) => f.endsWith(".yaml")).sort();

describe("malformed policy files", () => {
  it("has at least 20 of them, each with the message it must produce", () => {
    expect(bad.length).toBeGreaterThanOrEqual(20);
    for (const file of bad) expect(readdirSync(badDir)).toContain(file.replace(/\.yaml$/, ".expected"));
  });

  it.each(bad)("%s fails to load with exactly its expected message", async (file) => {
    const path = relative(root, join(badDir, file));
    const expected = readFileSync(join(badDir, file.replace(/\.yaml$/, ".expected")), "utf8").trimEnd();
    const error = await loadPolicyFile(join(root, path)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PolicyError);
    const text = (error as PolicyError).problems
      .map(formatProblem)
      .join("\n")
      .replaceAll(join(root, path), path);
    expect(text).toBe(expected);
  });
});

describe("example policies", () => {
  const examples = readdirSync(join(root, "examples")).filter((f) => f.endsWith(".yaml"));

  it("ships at least three", () => {
    expect(examples.length).toBeGreaterThanOrEqual(3);
  });

  it.each(examples)("%s loads without warnings", async (file) => {
    const policy = await loadPolicyFile(join(root, "examples", file));
    expect(policy.warnings).toEqual([]);
    expect(policy.tools.size).toBeGreaterThan(0);
  });
});

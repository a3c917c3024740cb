import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import * as egress from "../src/egress/index.js";
import * as policy from "../src/policy/index.js";

const src = join(import.meta.dirname, "..", "src");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

describe("the egress section's schema is owned by the policy", () => {
  it("src/policy imports nothing from src/egress (the policy mounts sections; entry points read them)", () => {
    const offenders = files(join(src, "policy")).flatMap((file) =>
      [...readFileSync(file, "utf8").matchAll(/\bfrom\s*["']([^"']+)["']/g)]
        .map((m) => m[1]!)
        .filter((spec) => spec.startsWith(".") && relative(src, resolve(dirname(file), spec)).startsWith("egress"))
        .map((spec) => `${relative(src, file)} imports ${spec}`),
    );
    expect(offenders).toEqual([]);
  });

  it("egress re-exports the policy's schema and host normaliser, so both sides validate alike", () => {
    expect(egress.egressPolicySchema).toBe(policy.egressPolicySchema);
    expect(egress.isAddressOrCidr).toBe(policy.isAddressOrCidr);
    expect(egress.normalizeHost("0x7f.1")).toMatchObject({ kind: "ip", text: "127.0.0.1" });
    // The proxy still refuses with its own error code; the policy reports the same sentence.
    expect(() => egress.normalizeHost("1.2.3.4.5")).toThrow(expect.objectContaining({ code: "egress-host-invalid" }) as Error);
    expect(() => policy.normalizeHost("1.2.3.4.5")).toThrow("host `1.2.3.4.5` is refused: it ends in a number but is not a valid IPv4 address");
  });
});

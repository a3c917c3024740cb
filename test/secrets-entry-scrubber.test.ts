import { afterEach, describe, expect, it } from "vitest";
import { parseSecretsConfig, scrubberForSecrets } from "../src/secrets/index.js";

const NAME = "GATEHOUSE_TEST_PLAIN_PASSWORD";
afterEach(() => {
  delete process.env[NAME];
});

describe("scrubberForSecrets (entry points that broker no secrets themselves)", () => {
  it("scrubs a declared value that no vendor pattern would recognise", async () => {
    const value = "correct-horse-battery-staple-8813";
    process.env[NAME] = value;
    const scrubber = await scrubberForSecrets(parseSecretsConfig({ handles: { db_password: { from: { env: NAME }, tools: ["query"] } } }));
    const text = scrubber.scrubText(`login failed for password=${value}`);
    expect(text).not.toContain(value);
    expect(text).toContain("{{secret:db_password}}");
  });

  it("without a secrets section, still scrubs vendor-shaped tokens", async () => {
    const token = `ghp_${"A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"}`;
    expect((await scrubberForSecrets(undefined)).scrubText(`t=${token}`)).not.toContain(token);
  });
});

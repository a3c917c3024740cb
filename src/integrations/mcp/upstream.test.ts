import { describe, expect, it } from "vitest";
import { startupTimeoutMs } from "./upstream.js";

describe("an upstream's start-up timeout", () => {
  it("is its call timeout, but never under 10 s (a slow start on a busy host) nor over 30 s", () => {
    expect(startupTimeoutMs(400)).toBe(10_000);
    expect(startupTimeoutMs(20_000)).toBe(20_000);
    expect(startupTimeoutMs(60_000)).toBe(30_000);
  });
});

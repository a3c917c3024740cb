import { describe, expect, it } from "vitest";
import { ApprovalError } from "./errors.js";
import { signLink, verifyLink } from "./links.js";

const key = Buffer.alloc(32, 1);
const now = Date.parse("2026-03-01T10:00:00Z");
const claim = { requestId: "req-1", approver: "alice", verdict: "approve" as const, expiresMs: now + 60_000 };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof ApprovalError ? error.code : "not-an-approval-error";
  }
}

describe("signed approval links", () => {
  it("round-trips a claim signed with the key", () => {
    expect(verifyLink(key, signLink(key, claim), now)).toEqual(claim);
  });

  const token = signLink(key, claim);
  const [payload, mac] = token.split(".") as [string, string];
  const swapped = Buffer.from(JSON.stringify({ v: 1, r: "req-1", a: "mallory", d: "approve", e: now + 60_000 })).toString("base64url");

  it.each([
    ["the payload swapped for another approver", `${swapped}.${mac}`, "link-invalid"],
    ["a flipped signature byte", `${payload}.${mac.slice(0, 5)}${mac[5] === "A" ? "B" : "A"}${mac.slice(6)}`, "link-invalid"],
    ["a truncated signature", `${payload}.${mac.slice(0, 20)}`, "link-invalid"],
    ["no signature", payload, "link-invalid"],
    ["three parts", `${payload}.${mac}.x`, "link-invalid"],
    ["non-base64url characters", `${payload}.${mac.replace(/.$/, "=")}`, "link-invalid"],
    ["an empty token", "", "link-invalid"],
    ["a very long token", `${"a".repeat(5000)}.${mac}`, "link-invalid"],
    ["a token signed with another key", signLink(Buffer.alloc(32, 2), claim), "link-invalid"],
    ["an expired link", signLink(key, { ...claim, expiresMs: now }), "link-expired"],
  ])("refuses %s", (_what, forged, code) => {
    expect(codeOf(() => verifyLink(key, forged, now))).toBe(code);
  });

  it("refuses a key shorter than 32 bytes", () => {
    expect(codeOf(() => signLink(Buffer.alloc(16), claim))).toBe("link-key-invalid");
  });
});

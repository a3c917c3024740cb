import { describe, expect, it } from "vitest";
import { createApprovalNonces, MAX_RENDERED_ARGS, renderApprovalArguments } from "./approval-question.js";

describe("renderApprovalArguments", () => {
  it("shows every key, sorted at every depth, whatever order the agent sent", () => {
    expect(renderApprovalArguments({ z: 1, a: { y: true, b: null }, m: ["x", 2] })).toBe('{"a":{"b":null,"y":true},"m":["x",2],"z":1}');
  });

  it("cuts each long string on its own and says how much", () => {
    const shown = renderApprovalArguments({ note: "n".repeat(1000), path: "/etc/cron.d/evil" })!;
    expect(shown).toContain("[truncated 700 of 1000 chars]");
    expect(shown).toContain('"path":"/etc/cron.d/evil"');
  });

  it("refuses (undefined) when the whole rendering is still too long, or nests too deep", () => {
    const wide = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`key${i}`, "v".repeat(60)]));
    expect(JSON.stringify(wide).length).toBeGreaterThan(MAX_RENDERED_ARGS);
    expect(renderApprovalArguments(wide)).toBeUndefined();
    let deep: unknown = "x";
    for (let i = 0; i < 40; i++) deep = { d: deep };
    expect(renderApprovalArguments(deep)).toBeUndefined();
  });
});

describe("createApprovalNonces", () => {
  const binding = { approvalId: "ap-1", tool: "delete", argsKey: '{"a":1}' };

  it("takes a nonce once, and only for the call it was issued for", () => {
    const nonces = createApprovalNonces({ clock: () => new Date(0) });
    const nonce = nonces.issue(binding);
    expect(nonces.take(nonce, { ...binding, argsKey: '{"a":2}' })).toBe(false);
    expect(nonces.take(nonce, { ...binding, approvalId: "ap-2" })).toBe(false);
    expect(nonces.take(nonce, { ...binding, tool: "other" })).toBe(false);
    expect(nonces.take("made-up", binding)).toBe(false);
    expect(nonces.take(nonce, binding)).toBe(true);
    expect(nonces.take(nonce, binding)).toBe(false);
  });

  it("expires nonces and caps how many are outstanding", () => {
    let now = 0;
    const nonces = createApprovalNonces({ clock: () => new Date(now), ttlMs: 1000, max: 3 });
    const old = nonces.issue(binding);
    now = 1000;
    expect(nonces.take(old, binding)).toBe(false);
    const first = nonces.issue(binding);
    for (let i = 0; i < 5; i++) nonces.issue(binding);
    expect(nonces.size).toBe(3);
    expect(nonces.take(first, binding)).toBe(false);
  });
});

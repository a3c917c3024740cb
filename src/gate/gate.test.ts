import { describe, expect, it } from "vitest";
import type { AuditEvent, AuditSink } from "../core/index.js";
import { createMemoryAuditLog } from "../audit/index.js";
import { parsePolicy } from "../policy/index.js";
import { proceed, stop } from "./check.js";
import { createGate } from "./gate.js";

const policy = parsePolicy(`
version: 1
agents:
  bot: { owner: o, environment: production }
tools:
  read: { risk: read-only, args: { type: object, properties: { id: { type: string } } } }
  write: { risk: high-risk-write, args: { type: object } }
`);

const failingSink: AuditSink = { append: () => Promise.reject(new Error("disk full")) };

describe("createGate", () => {
  it("records every decision with the normalised arguments and the rule codes", async () => {
    const audit = createMemoryAuditLog();
    const gate = createGate({ policy, audit, newId: () => "id-1", clock: () => new Date("2026-01-01T00:00:00Z") });
    const { id, decision } = await gate.decide({ tool: "read", args: { id: "1" }, run: "r1", principal: "alice" });
    expect(id).toBe("id-1");
    expect(decision.verdict).toBe("allow");
    expect(audit.events()).toEqual<AuditEvent[]>([
      {
        type: "decision",
        time: "2026-01-01T00:00:00.000Z",
        action: "id-1",
        tool: "read",
        args: { id: "1" },
        agent: "bot",
        run: "r1",
        principal: "alice",
        environment: "production",
        decision: {
          verdict: "allow",
          code: "allowed-by-default",
          rules: [],
          reasons: ["no rule matched; the built-in default for read-only tools is allow"],
          risk: "read-only",
        },
      },
    ]);
  });

  it("when a check throws, denies and says why", async () => {
    const gate = createGate({
      policy,
      audit: createMemoryAuditLog(),
      checks: [
        () => {
          throw new Error("limits store unreachable");
        },
      ],
    });
    const { decision } = await gate.decide({ tool: "read", args: {} });
    expect(decision).toMatchObject({ verdict: "deny", code: "gate-error" });
    expect(decision.reasons[0]).toContain("limits store unreachable");
  });

  it("when a check rejects asynchronously, denies", async () => {
    const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [() => Promise.reject(new Error("timeout"))] });
    expect((await gate.decide({ tool: "read", args: {} })).decision.code).toBe("gate-error");
  });

  it("when the audit log cannot record the decision, denies even an allowed action", async () => {
    const gate = createGate({ policy, audit: failingSink });
    const { decision } = await gate.decide({ tool: "read", args: {} });
    expect(decision).toMatchObject({ verdict: "deny", code: "audit-unavailable" });
    expect(decision.reasons[0]).toContain("disk full");
  });

  it("lets a later check refine a provisional decision, and stops at a final one", async () => {
    const seen: string[] = [];
    const gate = createGate({
      policy,
      audit: createMemoryAuditLog(),
      checks: [
        (_action, context) => {
          seen.push(`first saw ${context.decision?.verdict}`);
          return stop({ verdict: "deny", code: "denied-by-rule", rules: ["budget"], reasons: ["budget spent"] });
        },
        () => {
          seen.push("second ran");
          return proceed();
        },
      ],
    });
    const { decision } = await gate.decide({ tool: "read", args: {} });
    expect(decision.rules).toEqual(["budget"]);
    expect(seen).toEqual(["first saw allow"]);
  });

  it("a policy deny stops the chain before later checks run", async () => {
    let ran = false;
    const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [() => ((ran = true), proceed())] });
    expect((await gate.decide({ tool: "nope", args: {} })).decision.code).toBe("tool-not-listed");
    expect(ran).toBe(false);
  });

  it("records outcomes against the decision's id, and rejects when it cannot", async () => {
    const audit = createMemoryAuditLog();
    const gate = createGate({ policy, audit });
    const { id } = await gate.decide({ tool: "read", args: {} });
    await gate.recordOutcome(id, { tool: "read", args: {} }, { status: "ok", result: 1 });
    expect(audit.events().map((e) => [e.type, e.action])).toEqual([
      ["decision", id],
      ["outcome", id],
    ]);
    await expect(createGate({ policy, audit: failingSink }).recordOutcome("x", { tool: "read", args: {} }, { status: "ok" })).rejects.toThrow(
      "disk full",
    );
  });
});

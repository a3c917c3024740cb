import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { createBudgetLedger, createEgressDecider, egressPolicySchema, mintRunToken, type Resolver } from "../src/egress/index.js";

const key = randomBytes(32);
const auth = (agent: string, run = "r1"): string => `Basic ${Buffer.from(`${agent}:${mintRunToken(key, { agent, run, expiresAt: Date.now() + 60_000 })}`).toString("base64")}`;

function decider(egress: unknown, resolver: Resolver = () => Promise.resolve([{ address: "93.184.216.34", family: 4 }]), now = Date.now) {
  const policy = egressPolicySchema.parse(egress);
  return createEgressDecider({ policy, tokenKey: key, resolver, budgets: createBudgetLedger(policy.budgets, now), self: () => [], now });
}

const POLICY = {
  profiles: {
    web: {
      allow: [
        { host: "*.Example.COM.", ports: [443] },
        { id: "gh", host: "api.github.com", ports: [443, 80] },
        { id: "idn", host: "*.Bücher.example", ports: [443] },
        { id: "v6", host: "[2606:4700::1111]", ports: [443] },
      ],
    },
    rollout: { mode: "report", allow: [] },
  },
  agents: { coder: "web", trial: "rollout" },
};

describe("egress decisions: allow-list", () => {
  const d = decider(POLICY);
  it.each([
    ["api.github.com:443", true, "gh"],
    ["API.GitHub.com.:443", true, "gh"],
    ["www.example.com:443", true, "web.allow[0]"],
    ["a.b.example.com:443", true, "web.allow[0]"],
    ["example.com:443", false, "egress.allowlist.default-deny"],
    ["evilexample.com:443", false, "egress.allowlist.default-deny"],
    ["www.example.com.evil.net:443", false, "egress.allowlist.default-deny"],
    ["www.example.com:8443", false, "egress.allowlist.default-deny"],
    ["api.github.com:22", false, "egress.allowlist.default-deny"],
    ["www.xn--bcher-kva.example:443", true, "idn"],
    ["www.BÜCHER.example:443", true, "idn"],
    ["xn--bcher-kva.example:443", false, "egress.allowlist.default-deny"],
    ["[2606:4700:0::1111]:443", true, "v6"],
    ["[2606:4700::1112]:443", false, "egress.allowlist.default-deny"],
    ["bad..name:443", false, "egress.target.invalid"],
  ])("%s → allowed %s by %s", async (authority, allowed, rule) => {
    const r = await d.decide({ kind: "connect", authority, proxyAuthorization: auth("coder") });
    expect(r.allow).toBe(allowed);
    if (r.allow) expect(r.rule?.id).toBe(rule);
    else expect(r.rule).toBe(rule);
  });

  it("lets a report-mode profile through and says what enforce mode would have refused", async () => {
    const r = await decider(POLICY).decide({ kind: "connect", authority: "anything.net:443", proxyAuthorization: auth("trial") });
    expect(r.allow).toBe(true);
    if (r.allow) expect(r.wouldDeny).toMatch(/`anything\.net:443` is not allowed: no rule of profile `rollout`/);
  });

  it.each([
    ["a token whose run was changed", (t: string) => t.replace("v1.r1.", "v1.r2.")],
    ["a token whose expiry was extended", (t: string) => t.replace(/\.(\d+)\./, (_m, e: string) => `.${Number(e) + 3600}.`)],
    ["a token with a flipped MAC character", (t: string) => t.slice(0, -1) + (t.endsWith("A") ? "B" : "A")],
    ["a token from another key", () => mintRunToken(randomBytes(32), { agent: "coder", run: "r1", expiresAt: Date.now() + 60_000 })],
    ["an empty token", () => ""],
  ])("refuses %s with egress-auth-invalid", async (_name, tamper) => {
    const token = tamper(mintRunToken(key, { agent: "coder", run: "r1", expiresAt: Date.now() + 60_000 }));
    const header = `Basic ${Buffer.from(`coder:${token}`).toString("base64")}`;
    expect(await decider(POLICY).decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: header })).toMatchObject({ allow: false, code: "egress-auth-invalid" });
  });

  it("refuses an agent with no profile and a token past its expiry", async () => {
    const unknown = await decider(POLICY).decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: auth("stranger") });
    expect(unknown).toMatchObject({ allow: false, code: "egress-auth-invalid" });
    const expired = `Basic ${Buffer.from(`coder:${mintRunToken(key, { agent: "coder", run: "r", expiresAt: Date.now() - 1_000 })}`).toString("base64")}`;
    expect(await decider(POLICY).decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: expired })).toMatchObject({ allow: false, reason: "run token has expired" });
  });
});

const FAILING_RESOLVERS: [string, Resolver, string][] = [
    ["a resolver that throws synchronously", () => {
      throw new Error("boom");
    }, "egress-resolve-failed"],
    ["a resolver that rejects", () => Promise.reject(new Error("SERVFAIL")), "egress-resolve-failed"],
    ["a resolver that answers garbage", () => Promise.resolve([{ address: "not-an-ip", family: 4 as const }]), "egress-address-forbidden"],
    ["a resolver that answers nothing", () => Promise.resolve([]), "egress-resolve-failed"],
    ["a resolver that answers a non-array", (() => Promise.resolve({})) as unknown as Resolver, "egress-resolve-failed"],
    ["a resolver that never answers", () => new Promise<never>(() => undefined), "egress-resolve-failed"],
];

describe("egress decisions fail closed", () => {
  it.each(FAILING_RESOLVERS)("refuses when given %s", async (_name, resolver, code) => {
    const d = decider({ ...POLICY, timeouts: { connectMs: 200, idleMs: 1000, totalMs: 1000, headersMs: 1000 } }, resolver);
    const r = await d.decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: auth("coder") });
    expect(r).toMatchObject({ allow: false, code });
  });

  it("refuses with egress-check-error when a dependency throws something unexpected", async () => {
    const policy = egressPolicySchema.parse(POLICY);
    const d = createEgressDecider({
      policy,
      tokenKey: key,
      resolver: () => Promise.resolve([{ address: "93.184.216.34", family: 4 }]),
      budgets: { ...createBudgetLedger({}, Date.now), admitRequest: () => { throw new TypeError("ledger corrupted"); } },
      self: () => [],
      now: Date.now,
    });
    const r = await d.decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: auth("coder") });
    expect(r).toMatchObject({ allow: false, code: "egress-check-error", reason: "a check failed, so the request is refused: ledger corrupted" });
  });
});

describe("egress budgets", () => {
  it("answers the request over the per-run rate with 429 and names the budget", async () => {
    let t = 1_000_000;
    const d = decider({ ...POLICY, budgets: { perRun: { requestsPerMinute: 2 } } }, undefined, () => t);
    const ask = () => d.decide({ kind: "http", authority: "api.github.com:80", proxyAuthorization: auth("coder", "r-rate") });
    expect((await ask()).allow).toBe(true);
    expect((await ask()).allow).toBe(true);
    expect(await ask()).toMatchObject({ allow: false, code: "egress-budget-exceeded", rule: "egress.budget.run.requestsPerMinute" });
    t += 60_001;
    expect((await ask()).allow).toBe(true);
  });

  it("limits concurrent tunnels per agent and frees a slot on release", async () => {
    const d = decider({ ...POLICY, budgets: { perAgent: { concurrentTunnels: 1 } } });
    const first = await d.decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: auth("coder", "a") });
    const second = await d.decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: auth("coder", "b") });
    expect(second).toMatchObject({ allow: false, rule: "egress.budget.agent.concurrentTunnels" });
    if (first.allow) first.releaseTunnel?.();
    expect((await d.decide({ kind: "connect", authority: "api.github.com:443", proxyAuthorization: auth("coder", "c") })).allow).toBe(true);
  });

  it("cuts a run once its bytes are spent and refuses the next request up front", () => {
    const ledger = createBudgetLedger({ perRun: { bytesDown: 100 } }, Date.now);
    const who = { agent: "a", run: "r" };
    expect(ledger.addBytes(who, "down", 60)).toBeUndefined();
    expect(ledger.addBytes(who, "down", 60)).toMatchObject({ scope: "run", limit: "bytesDown" });
    expect(ledger.checkBytes(who)).toMatchObject({ limit: "bytesDown" });
    expect(ledger.checkBytes({ agent: "a", run: "other" })).toBeUndefined();
  });
});

describe("egress policy schema", () => {
  it.each([
    [{ profiles: { p: { allow: [{ host: "*.com.*" }] } } }, /may only stand alone/],
    [{ profiles: { p: { allow: [{ host: "a..b" }] } } }, /not a valid DNS label/],
    [{ profiles: { p: { allow: [{ host: "x.com", unsafeAllowAddresses: ["not-cidr"] }] } } }, /not an IP address or CIDR/],
    [{ profiles: { p: { allow: [], extra: 1 } } }, /Unrecognized key/],
    [{ profiles: { p: { allow: [{ host: "x.com", unsafeAllowAddresses: ["0.0.0.0/0"] }] } } }, /range too broad/],
    [{ profiles: { p: { allow: [{ host: "x.com", unsafeAllowAddresses: ["::/0"] }] } } }, /range too broad/],
    [{ profiles: { p: { credentials: [{ host: "*.x.com", header: "authorization", secret: "s" }] } } }, /exact names/],
    [{ profiles: { p: { credentials: [{ host: "x.com", header: "Host", secret: "s" }] } } }, /cannot carry a credential/],
    [{ profiles: {}, agents: { a: "missing" } }, /profile `missing` is not defined/],
  ])("refuses %j", (egress, message) => {
    const r = egressPolicySchema.safeParse(egress);
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });
});

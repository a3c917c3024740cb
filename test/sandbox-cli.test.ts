import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateSigningKey, writeKeyFiles } from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { createApprovals, createApproverDirectory } from "../src/approvals/index.js";
import { openSqliteApprovalStore, openSqliteAuditStore } from "../src/store/index.js";
import { startDnsServer, startProxy, startUpstream } from "./egress-helpers.js";
import { makeFixture, type Fixture } from "./sandbox-helpers.js";

let fx: Fixture;
let xdg = "";
const saved = { XDG_DATA_HOME: process.env.XDG_DATA_HOME, cwd: process.cwd() };

beforeAll(() => {
  fx = makeFixture();
  xdg = join(fx.root, "xdg");
  writeKeyFiles(join(xdg, "gatehouse", "audit.key"), generateSigningKey("test/gatehouse/audit/sandbox"));
  process.env.XDG_DATA_HOME = xdg;
  process.chdir(fx.work);
});
afterAll(async () => {
  process.chdir(saved.cwd);
  if (saved.XDG_DATA_HOME === undefined) delete process.env.XDG_DATA_HOME;
  else process.env.XDG_DATA_HOME = saved.XDG_DATA_HOME;
  await fx?.cleanup();
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string; streamed: string }> {
  let out = "";
  let err = "";
  let streamed = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    streamed += chunk.toString();
    return true;
  });
  const spyErr = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    streamed += chunk.toString();
    return true;
  });
  try {
    const code = await runCli(argv, { out: (t) => void (out += `${t}\n`), err: (t) => void (err += `${t}\n`) });
    return { code, out, err, streamed };
  } finally {
    spy.mockRestore();
    spyErr.mockRestore();
  }
}

describe("gatehouse run --profile networked with GATEHOUSE_EGRESS_KEY", () => {
  it("presents a run token for --agent to the real egress proxy, which applies that agent's allow-list", async () => {
    const dns = await startDnsServer({ "api.test": ["127.0.0.1"] });
    const upstream = await startUpstream((req, res) => res.end(`upstream saw ${req.url}`));
    const p = await startProxy(
      { profiles: { builder: { allow: [{ host: "api.test", ports: [upstream.port], unsafeAllowAddresses: ["127.0.0.1"] }] } }, agents: { "ci-agent": "builder" } },
      { dnsPort: dns.port },
    );
    process.env.GATEHOUSE_EGRESS_KEY = p.key.toString("hex");
    try {
      const script = `import urllib.request\nprint(urllib.request.urlopen('http://api.test:${upstream.port}/deps', timeout=5).read().decode())`;
      const run = await cli("run", "--profile", "networked", "--proxy", `127.0.0.1:${p.port}`, "--agent", "ci-agent", "--", "python3", "-c", script);
      expect(run.streamed).toContain("upstream saw /deps");
      expect(run.code).toBe(0);
      expect(JSON.stringify(p.audit.events())).toContain('"agent":"ci-agent"');
      process.env.GATEHOUSE_EGRESS_KEY = "too-short";
      const bad = await cli("run", "--profile", "networked", "--proxy", `127.0.0.1:${p.port}`, "--", "true");
      expect(bad.code).toBe(2);
      expect(bad.err).toContain("GATEHOUSE_EGRESS_KEY");
    } finally {
      delete process.env.GATEHOUSE_EGRESS_KEY;
      await p.close();
      await upstream.close();
      await dns.close();
    }
  }, 60_000);
});

describe("gatehouse run", () => {
  it("runs a command, streams its output and exits with its code", async () => {
    const ok = await cli("run", "--", "sh", "-c", "echo out-marker; exit 0");
    expect(ok.code).toBe(0);
    expect(ok.streamed).toContain("out-marker");
    const failed = await cli("run", "--", "sh", "-c", "exit 7");
    expect(failed.code).toBe(7);
  });

  it("prints violations as JSON lines on stderr and records the run in the audit log", async () => {
    const { code, err } = await cli("run", "--profile", "build", "--", "sh", "-c", "echo x > .git/hooks/pre-commit");
    expect(code).not.toBe(0);
    const lines = err.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    const violation = lines.find((l) => l.gatehouse === "violation" && l.kind === "denied-write");
    expect(violation).toMatchObject({ command: ["sh", "-c", "echo x > .git/hooks/pre-commit"] });
    const store = openSqliteAuditStore(join(xdg, "gatehouse", "audit.db"), { readonly: true });
    let stored = "";
    try {
      const next = await store.nextSeq();
      for await (const page of store.readRecordBytes(0, next)) for (const r of page) stored += Buffer.from(r.bytes).toString("utf8");
    } finally {
      await store.close();
    }
    expect(stored).toContain("sandbox.run");
    expect(stored).toContain("pre-commit");
    expect(stored).toContain("denied-write");
  });

  it.each([
    { name: "a missing command", argv: ["run"], code: 2, message: "no command to run" },
    { name: "an unknown profile", argv: ["run", "--profile", "nope", "--", "touch", "MARKER"], code: 2, message: "no sandbox profile `nope`" },
  ])("$name: exit $code, nothing run", async ({ argv, code, message }) => {
    const result = await cli(...argv.map((a) => a.replace("MARKER", join(fx.root, "cli-marker"))));
    expect(result.code).toBe(code);
    expect(result.err).toContain(message);
    expect(result.err).toContain('"gatehouse":"refused"');
    expect(existsSync(join(fx.root, "cli-marker"))).toBe(false);
  });

  it("a policy with nonsensical limits: exit 1 with file:line:col, nothing run", async () => {
    const dir = join(fx.root, "cli-policy");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "gatehouse.yaml");
    writeFileSync(file, "sandbox:\n  profiles:\n    p:\n      limits:\n        memoryMb: -1\n");
    const result = await cli("run", "--policy", file, "--profile", "p", "--", "touch", join(fx.root, "cli-marker"));
    expect(result.code).toBe(1);
    expect(result.err).toContain(`${file}:5:19 sandbox.profiles.p.limits.memoryMb`);
    expect(existsSync(join(fx.root, "cli-marker"))).toBe(false);
  });

  it("refuses to run when the audit log cannot be opened", async () => {
    process.env.XDG_DATA_HOME = join(fx.root, "no-keys-here");
    try {
      const result = await cli("run", "--", "touch", join(fx.root, "cli-marker"));
      expect(result.code).toBe(1);
      expect(result.err).toContain("audit-unavailable");
      expect(existsSync(join(fx.root, "cli-marker"))).toBe(false);
    } finally {
      process.env.XDG_DATA_HOME = xdg;
    }
  });
});

describe("gatehouse run --widen", () => {
  it("refuses without a grant, then runs under the grant an approver gives, recording its id", async () => {
    const cache = join(fx.root, "cli-cache");
    mkdirSync(cache, { recursive: true });
    const argv = ["run", "--widen", `writable=${cache}`, "--agent", "builder", "--", "sh", "-c", `echo ok > ${join(cache, "out")}`];
    const refused = await cli(...argv);
    expect(refused.code).toBe(1);
    expect(refused.err).toContain('"code":"widening-unapproved"');
    expect(existsSync(join(cache, "out"))).toBe(false);
    // An approver answers through the same approvals store `gatehouse serve` uses.
    const store = openSqliteApprovalStore(join(xdg, "gatehouse", "approvals.db"));
    let grantId: string;
    try {
      const approvals = createApprovals({ store, audit: { append: () => Promise.resolve() }, approvers: createApproverDirectory({ alice: { roles: ["approver"] } }) });
      const [request] = await approvals.list({ status: "pending" });
      expect(request).toMatchObject({ tool: "sandbox.widen", agent: "builder" });
      await approvals.answer(request!.id, { approver: "alice", verdict: "approve", grant: { ttlMs: 3_600_000 } });
      // spend the one-time approval so the next run goes by the grant
      await approvals.check({ agent: "builder", tool: "sandbox.widen", args: request!.args }, { decision: { verdict: "ask", code: "asked-by-rule", rules: [], reasons: [], agent: "builder", policyDigest: request!.policyDigest, approvers: 1, args: request!.args } });
      grantId = (await approvals.grants.list({ active: true }))[0]!.id;
    } finally {
      await store.close();
    }
    const ran = await cli(...argv);
    expect(ran.err).toContain(`by grant ${grantId}`);
    expect(ran.code).toBe(0);
    const audit = openSqliteAuditStore(join(xdg, "gatehouse", "audit.db"), { readonly: true });
    let stored = "";
    try {
      const next = await audit.nextSeq();
      for await (const page of audit.readRecordBytes(0, next)) for (const r of page) stored += Buffer.from(r.bytes).toString("utf8");
    } finally {
      await audit.close();
    }
    expect(stored).toContain(grantId);
    expect(stored).toContain(`writable=${cache}`);
  });
});

describe("gatehouse run --approvals-db outside the data directory", () => {
  it("masks that database even where a profile makes its directory readable", async () => {
    const dbDir = join(fx.root, "grants");
    mkdirSync(dbDir);
    const db = join(dbDir, "approvals.db");
    writeFileSync(db, "GRANTS-DB-SENTINEL\n");
    const policy = join(fx.root, "grants-policy.yaml");
    writeFileSync(policy, `sandbox:\n  profiles:\n    p:\n      workdir: ${JSON.stringify(fx.work)}\n      readable: [${JSON.stringify(dbDir)}]\n`);
    const { streamed } = await cli("run", "--policy", policy, "--profile", "p", "--approvals-db", db, "--", "sh", "-c", `cat ${db}; echo end-marker`);
    expect(streamed).toContain("end-marker");
    expect(streamed).not.toContain("GRANTS-DB-SENTINEL");
  });
});

describe("gatehouse doctor", () => {
  it("reports bwrap, user namespaces, seccomp and cgroups", async () => {
    const { code, out } = await cli("doctor");
    expect(out).toMatch(/bubblewrap\s+ok/);
    expect(out).toMatch(/user namespaces ok/);
    expect(out).toMatch(/seccomp\s+ok/);
    expect(out).toMatch(/cgroups\s+(v1|v2|hybrid)/);
    expect(code).toBe(0);
  });
});

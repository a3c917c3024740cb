import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createApprovals, createApproverDirectory, createWebhookNotifier, signLink, type Approvals } from "../src/approvals/index.js";
import { createMemoryAuditLog } from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { createGate, type Gate } from "../src/gate/index.js";
import { createGatehouse } from "../src/integrations/index.js";
import { createControlServer, ServerError, type ControlServer } from "../src/server/index.js";
import { openSqliteApprovalStore, type ApprovalStore } from "../src/store/index.js";
import { manualClock, policy, tempDir, TOKENS } from "./approvals-helpers.js";

const KEY = Buffer.alloc(32, 7);
const OTHER_KEY = Buffer.alloc(32, 9);

/** A real local HTTP server standing in for Slack's incoming webhook. */
async function webhookReceiver(): Promise<{ url: string; bodies: Record<string, unknown>[]; close: () => Promise<void> }> {
  const bodies: Record<string, unknown>[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push({ ...(JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>), contentType: req.headers["content-type"] });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}/hook`, bodies, close: () => new Promise((r) => server.close(() => r())) };
}

interface Rig {
  store: ApprovalStore;
  approvals: Approvals;
  gate: Gate;
  server: ControlServer;
  clock: ReturnType<typeof manualClock>;
  hook: Awaited<ReturnType<typeof webhookReceiver>>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) {
    await rig.server.close();
    await rig.hook.close();
    await rig.store.close();
  }
});

async function rig(): Promise<Rig> {
  const clock = manualClock(Date.now());
  const store = openSqliteApprovalStore(join(tempDir(), "approvals.db"));
  const hook = await webhookReceiver();
  const directory = createApproverDirectory(policy.file.approvers ?? {});
  const audit = createMemoryAuditLog();
  const approvals = createApprovals({
    store,
    audit,
    approvers: directory,
    clock: clock.now,
    pollMs: 20,
    notifiers: [
      createWebhookNotifier({ url: hook.url, publicUrl: "http://gatehouse.invalid", linkKey: KEY, approvers: directory, linkTtlMs: 600_000, clock: clock.now }),
    ],
  });
  const server = await createControlServer({ approvals, approvers: directory, linkKey: KEY, port: 0, maxBodyBytes: 4096, clock: clock.now });
  const gate = createGate({ policy, audit, checks: [approvals.check], clock: clock.now });
  const r = { store, approvals, gate, server, clock, hook };
  rigs.push(r);
  return r;
}

async function pending(r: Rig, args: unknown = { order: "ord_1", amount: 20 }): Promise<string> {
  const { decision } = await r.gate.decide({ agent: "bot", tool: "refund", args, run: "run-7", request: "refund my order" });
  expect(decision.verdict).toBe("ask");
  return decision.approval!.id;
}

function api(r: Rig, path: string, init: RequestInit & { token?: string | null } = {}) {
  const { token = TOKENS.alice, headers, ...rest } = init;
  return fetch(`${r.server.url}${path}`, {
    ...rest,
    headers: { ...(token === null ? {} : { authorization: `Bearer ${token}` }), ...(headers as Record<string, string> | undefined) },
  });
}

const json = (body: unknown): RequestInit => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

function linksOf(body: Record<string, unknown>): { approver: string; verdict: string; url: string }[] {
  return (body.gatehouse as { links: { approver: string; verdict: string; url: string }[] }).links;
}

const localLink = (r: Rig, url: string) => `${r.server.url}${new URL(url).pathname}`;

describe("the webhook notifier", () => {
  it("POSTs a Slack-compatible message with signed approve and deny links for every approver but the requester", async () => {
    const r = await rig();
    const id = await pending(r, { order: "<https://evil.example|click here>", amount: 20 });
    expect(r.hook.bodies).toHaveLength(1);
    const body = r.hook.bodies[0]!;
    expect(body.contentType).toBe("application/json");
    expect(body.text).toContain(id);
    const blocks = body.blocks as { type: string; text?: { text: string }; elements?: { url: string; text: { text: string } }[] }[];
    expect(blocks[0]).toMatchObject({ type: "section", text: { type: "mrkdwn" } });
    const buttons = blocks.filter((b) => b.type === "actions").flatMap((b) => b.elements ?? []);
    expect(buttons.map((b) => b.text.text).sort()).toEqual(
      ["alice", "bob", "carol", "dave"].flatMap((n) => [`Approve as ${n}`, `Deny as ${n}`]).sort(),
    );
    // Agent-chosen arguments cannot forge a Slack link in the message.
    const text = JSON.stringify(blocks);
    expect(text).not.toContain("<https://evil.example");
    expect(text).toContain("&lt;https://evil.example|click here&gt;");
    expect(text).toContain("refund my order");
  });

  it("answers nothing on GET (link previews), and records the answer on POST as the link's approver", async () => {
    const r = await rig();
    const id = await pending(r);
    const link = linksOf(r.hook.bodies[0]!).find((l) => l.approver === "alice" && l.verdict === "approve")!;
    const page = await fetch(localLink(r, link.url));
    expect(page.status).toBe(200);
    expect(page.headers.get("x-frame-options")).toBe("DENY");
    expect(await page.text()).toContain("Approve as alice");
    expect((await r.approvals.get(id))?.answers).toEqual([]);
    const post = await fetch(localLink(r, link.url), { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "reason=looks+fine" });
    expect(post.status).toBe(200);
    expect(await r.approvals.get(id)).toMatchObject({ status: "approved", answers: [{ approver: "alice", verdict: "approve", reason: "looks fine" }] });
    // The same link again: already answered.
    const replay = await fetch(localLink(r, link.url), { method: "POST" });
    expect(replay.status).toBe(409);
  });

  it("when a request needs two approvers, refuses its approve links: one reader of the shared message cannot be both", async () => {
    const r = await rig();
    const id = await pending(r, { order: "ord_1", amount: 500 });
    expect((await r.approvals.get(id))?.required).toBe(2);
    for (const approver of ["alice", "bob"]) {
      const link = linksOf(r.hook.bodies[0]!).find((l) => l.approver === approver && l.verdict === "approve")!;
      const res = await fetch(localLink(r, link.url), { method: "POST" });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain("needs 2 distinct approvers");
    }
    expect(await r.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });

  it.each([
    ["an altered signature", (t: string) => `${t.slice(0, -2)}${t.endsWith("AA") ? "BB" : "AA"}`],
    ["a payload swapped to another approver", (t: string, id: string) => `${signLink(KEY, { requestId: id, approver: "bob", verdict: "approve", expiresMs: Date.now() + 60_000 }).split(".")[0]}.${t.split(".")[1]}`],
    ["a link signed with another key", (_t: string, id: string) => signLink(OTHER_KEY, { requestId: id, approver: "alice", verdict: "approve", expiresMs: Date.now() + 60_000 })],
    ["garbage", () => "not-a-token"],
    ["an empty signature", (t: string) => `${t.split(".")[0]}.`],
  ])("refuses a forged link: %s (403, nothing recorded)", async (_what, forge) => {
    const r = await rig();
    const id = await pending(r);
    const link = linksOf(r.hook.bodies[0]!).find((l) => l.approver === "alice" && l.verdict === "approve")!;
    const token = new URL(link.url).pathname.split("/").pop()!;
    const forged = forge(token, id);
    for (const method of ["GET", "POST"]) {
      const res = await fetch(`${r.server.url}/links/${forged}`, { method });
      expect(res.status).toBe(403);
    }
    expect((await r.approvals.get(id))?.answers).toEqual([]);
  });

  it("refuses an expired link (410) and records nothing", async () => {
    const r = await rig();
    const id = await pending(r);
    const link = linksOf(r.hook.bodies[0]!).find((l) => l.approver === "bob" && l.verdict === "deny")!;
    r.clock.advance(600_000);
    const res = await fetch(localLink(r, link.url), { method: "POST" });
    expect(res.status).toBe(410);
    expect(await res.text()).toContain("expired");
    expect((await r.approvals.get(id))?.answers).toEqual([]);
  });
});

describe("notifier failures and previews", () => {
  it("a webhook that fails does not fail the ask: the request stands and the failure is reported", async () => {
    const failing: Server = createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((resolve) => failing.listen(0, "127.0.0.1", resolve));
    const port = (failing.address() as { port: number }).port;
    const directory = createApproverDirectory(policy.file.approvers ?? {});
    const store = openSqliteApprovalStore(join(tempDir(), "n.db"));
    const reported: string[] = [];
    const approvals = createApprovals({
      store,
      audit: createMemoryAuditLog(),
      approvers: directory,
      notifiers: [createWebhookNotifier({ url: `http://127.0.0.1:${port}/hook`, publicUrl: "http://x.invalid", linkKey: KEY, approvers: directory })],
      onNotifyError: (error) => reported.push(`${error.code}: ${error.message}`),
      preview: (_action, decision) => ({ wouldRefund: (decision.args as { amount: number }).amount }),
    });
    const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [approvals.check] });
    const { decision } = await gate.decide({ agent: "bot", tool: "refund", args: { order: "ord_1", amount: 20 } });
    expect(decision.verdict).toBe("ask");
    expect(reported).toEqual([expect.stringContaining("notify-failed: webhook answered HTTP 500") as string]);
    expect(await approvals.get(decision.approval!.id)).toMatchObject({ status: "pending", preview: { wouldRefund: 20 } });
    await store.close();
    await new Promise((r) => failing.close(r));
  });

  it("shows the tool's dry-run preview in the webhook message", async () => {
    const r = await rig();
    const directory = createApproverDirectory(policy.file.approvers ?? {});
    const approvals = createApprovals({
      store: r.store,
      audit: createMemoryAuditLog(),
      approvers: directory,
      notifiers: [createWebhookNotifier({ url: r.hook.url, publicUrl: "http://x.invalid", linkKey: KEY, approvers: directory })],
      preview: () => ({ statements: [{ rowsAffected: 3 }] }),
    });
    const gate = createGate({ policy, audit: createMemoryAuditLog(), checks: [approvals.check] });
    await gate.decide({ agent: "bot", tool: "refund", args: { order: "ord_5", amount: 20 } });
    expect(JSON.stringify(r.hook.bodies[0]?.blocks)).toContain("Dry-run preview");
    expect(JSON.stringify(r.hook.bodies[0]?.blocks)).toContain("rowsAffected");
  });
});

describe("the control-plane JSON API", () => {
  it("lists, shows and answers as the token's approver", async () => {
    const r = await rig();
    const id = await pending(r);
    const list = (await (await api(r, "/v1/approvals?status=pending")).json()) as { requests: { id: string }[] };
    expect(list.requests.map((x) => x.id)).toEqual([id]);
    const shown = (await (await api(r, `/v1/approvals/${id}`)).json()) as { request: { run: string; request: string; args: unknown } };
    expect(shown.request).toMatchObject({ run: "run-7", request: "refund my order", args: { order: "ord_1", amount: 20 } });
    const res = await api(r, `/v1/approvals/${id}/answers`, { ...json({ verdict: "approve", reason: "ok", grant: { ttlMs: 60_000, maxUses: 1 } }), token: TOKENS.bob });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { request: { answers: { approver: string }[] } }).request.answers[0]!.approver).toBe("bob");
    const grants = (await (await api(r, "/v1/grants?active=true")).json()) as { grants: { id: string }[] };
    expect(grants.grants).toHaveLength(1);
    expect((await api(r, `/v1/grants/${grants.grants[0]!.id}/revoke`, { method: "POST", token: TOKENS.alice })).status).toBe(403);
    expect((await api(r, `/v1/grants/${grants.grants[0]!.id}/revoke`, { method: "POST", token: TOKENS.carol })).status).toBe(200);
  });

  it.each([
    ["no token", { token: null }, 401, "http-unauthorized"],
    ["an unknown token", { token: "wrong-token" }, 401, "http-unauthorized"],
    ["a token with a space", { token: "alice token" }, 401, "http-unauthorized"],
    ["a malformed verdict", json({ verdict: "yes" }), 400, "answer-invalid"],
    ["an approver named in the body", json({ verdict: "approve", approver: "bob" }), 400, "answer-invalid"],
    ["a body that is not JSON", { method: "POST", headers: { "content-type": "application/json" }, body: "{verdict" }, 400, "http-bad-json"],
    ["a form body", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "verdict=approve" }, 415, "http-unsupported-media-type"],
    ["an oversized body", json({ verdict: "approve", reason: "x".repeat(5000) }), 413, "http-body-too-large"],
    ["the wrong method", { method: "PUT" }, 405, "http-method-not-allowed"],
    ["self-approval by the agent", { ...json({ verdict: "approve" }), token: TOKENS.bot }, 403, "self-approval"],
    ["a grant that is too long", json({ verdict: "approve", grant: { ttlMs: 10 ** 12 } }), 400, "grant-invalid"],
  ] as const)("refuses %s with the right status and changes nothing", async (_what, init, status, code) => {
    const r = await rig();
    const id = await pending(r);
    const res = await api(r, `/v1/approvals/${id}/answers`, init);
    expect(res.status).toBe(status);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe(code);
    expect(body.error.message.length).toBeGreaterThan(5);
    if (status === 401) expect(res.headers.get("www-authenticate")).toContain("Bearer");
    expect(await r.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });

  it.each([
    ["an unknown request id", "/v1/approvals/00000000-0000-0000-0000-000000000000", 404],
    ["answering an unknown request id", "/v1/approvals/nope/answers", 404],
    ["an unknown endpoint", "/v1/everything", 404],
    ["a bad status filter", "/v1/approvals?status=all", 400],
    ["broken percent-encoding", "/v1/approvals/%E0%A4%A", 400],
  ])("answers %s with %i", async (_what, path, status) => {
    const r = await rig();
    const res = await api(r, path, path.endsWith("/answers") ? json({ verdict: "approve" }) : {});
    expect(res.status).toBe(status);
  });

  it("answers an expired request with 410 and a closed one with 409", async () => {
    const r = await rig();
    const id = await pending(r);
    expect((await api(r, `/v1/approvals/${id}/answers`, json({ verdict: "deny" }))).status).toBe(200);
    expect((await api(r, `/v1/approvals/${id}/answers`, { ...json({ verdict: "approve" }), token: TOKENS.bob })).status).toBe(409);
    const other = await pending(r, { order: "ord_2", amount: 5 });
    r.clock.advance(15 * 60_000);
    expect((await api(r, `/v1/approvals/${other}/answers`, json({ verdict: "approve" }))).status).toBe(410);
  });

  it("answers 503 and records nothing when the store is unreachable", async () => {
    const r = await rig();
    const id = await pending(r);
    await r.store.close();
    const res = await api(r, `/v1/approvals/${id}/answers`, json({ verdict: "approve" }));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("store-unavailable");
    rigs.splice(rigs.indexOf(r), 1);
    await r.server.close();
    await r.hook.close();
  });

  it("refuses to start unauthenticated on a non-loopback address", async () => {
    const directory = createApproverDirectory({ alice: { roles: ["approver"] } });
    const store = openSqliteApprovalStore(join(tempDir(), "a.db"));
    const approvals = createApprovals({ store, audit: createMemoryAuditLog(), approvers: directory });
    const error = await createControlServer({ approvals, approvers: directory, host: "0.0.0.0", port: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerError);
    expect((error as ServerError).code).toBe("server-unauthenticated-public");
    await store.close();
  });
});

describe("gatehouse approvals (CLI over the API)", () => {
  let r: Rig;
  let out: string[] = [];
  let err: string[] = [];
  const io = { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) };
  const cli = (...args: string[]) => runCli(["approvals", ...args, "--url", r.server.url], io);

  it("lists, shows, approves with a grant, denies, lists grants and revokes", async () => {
    r = await rig();
    out = [];
    err = [];
    const id = await pending(r);
    expect(await cli("list", "--token", TOKENS.alice)).toBe(0);
    expect(out.join("\n")).toContain(id);
    expect(await cli("show", id, "--token", TOKENS.alice)).toBe(0);
    expect(out.join("\n")).toContain("refund my order");
    expect(await cli("approve", id, "--reason", "fine", "--grant", "1h", "--grant-uses", "3", "--grant-args", '{"type":"object"}', "--token", TOKENS.alice)).toBe(0);
    expect(out.at(-1)).toContain("grant created");
    const other = await pending(r, { order: "ord_9", amount: 500 });
    expect(await cli("deny", other, "--reason", "too much", "--token", TOKENS.bob)).toBe(0);
    expect(await r.approvals.get(other)).toMatchObject({ status: "denied", answers: [{ approver: "bob", reason: "too much" }] });
    out = [];
    expect(await cli("grants", "--active", "--json", "--token", TOKENS.alice)).toBe(0);
    const grants = JSON.parse(out.join("\n")) as { id: string; maxUses: number }[];
    expect(grants).toMatchObject([{ maxUses: 3 }]);
    expect(await cli("revoke", grants[0]!.id, "--token", TOKENS.alice)).toBe(0);
    expect(await r.approvals.grants.list({ active: true })).toEqual([]);
  });

  it("exits 1 with the server's code on a refusal, 2 on a usage error", async () => {
    r = await rig();
    out = [];
    err = [];
    const id = await pending(r);
    expect(await cli("approve", id, "--token", TOKENS.bot)).toBe(1);
    expect(err.join("\n")).toContain("self-approval");
    expect(await cli("approve", "no-such-id", "--token", TOKENS.alice)).toBe(1);
    expect(err.join("\n")).toContain("request-unknown");
    expect(await cli("approve", id, "--token", "bad")).toBe(1);
    expect(err.join("\n")).toContain("http-unauthorized");
    expect(await cli("approve", id, "--grant", "soon", "--token", TOKENS.alice)).toBe(2);
    expect(await cli("approve", id, "--grant-uses", "2", "--token", TOKENS.alice)).toBe(2);
    expect(await runCli(["approvals", "list", "--url", r.server.url], io)).toBe(process.env.GATEHOUSE_TOKEN ? 1 : 2);
    expect(await r.approvals.get(id)).toMatchObject({ status: "pending", answers: [] });
  });
});

describe("guard with approvals", () => {
  it("awaits the answer with waitForApproval and then runs the identical call once", async () => {
    const store = openSqliteApprovalStore(join(tempDir(), "g.db"));
    const audit = createMemoryAuditLog();
    const approvals = createApprovals({ store, audit, approvers: createApproverDirectory(policy.file.approvers ?? {}), pollMs: 10 });
    const gatehouse = await createGatehouse({ policy, audit, approvals });
    const ran: unknown[] = [];
    const tools = gatehouse.guard({ refund: (args: { amount: number }) => (ran.push(args), "refunded") }, { agent: "bot", waitForApproval: { timeoutMs: 5000 } });
    const answering = (async () => {
      for (;;) {
        const [request] = await approvals.list({ status: "pending" });
        if (request) return approvals.answer(request.id, { approver: "alice", verdict: "approve" });
        await new Promise((res) => setTimeout(res, 5));
      }
    })();
    const result = await tools.refund({ order: "ord_1", amount: 20 });
    await answering;
    expect(result).toEqual({ status: "ok", value: "refunded" });
    expect(ran).toHaveLength(1);
    await store.close();
  });

  it("without an answer in time, returns pending with the request id to resume later", async () => {
    const store = openSqliteApprovalStore(join(tempDir(), "g.db"));
    const audit = createMemoryAuditLog();
    const approvals = createApprovals({ store, audit, approvers: createApproverDirectory(policy.file.approvers ?? {}), pollMs: 10 });
    const gatehouse = await createGatehouse({ policy, audit, approvals });
    const ran: unknown[] = [];
    const fn = (args: unknown) => (ran.push(args), "refunded");
    const waiting = gatehouse.guard({ refund: fn }, { agent: "bot", waitForApproval: { timeoutMs: 50 } });
    const result = await waiting.refund({ order: "ord_1", amount: 20 });
    expect(result).toMatchObject({ status: "pending", approvers: 1 });
    const id = (result as { approvalId: string }).approvalId;
    expect(id).toBeDefined();
    expect((result as { message: string }).message).toContain(id);
    await approvals.answer(id, { approver: "bob", verdict: "deny", reason: "no" });
    const plain = gatehouse.guard({ refund: fn }, { agent: "bot" });
    expect(await plain.refund({ order: "ord_1", amount: 20 })).toMatchObject({ status: "denied", code: "denied-by-approver" });
    expect(ran).toEqual([]);
    await store.close();
  });
});


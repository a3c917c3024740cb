import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AuditError,
  checkProof,
  fileCheckpointPublisher,
  generateSigningKey,
  httpCheckpointPublisher,
  openAuditLog,
  openCheckpoint,
  proveConsistency,
  proveInclusion,
  verifyAuditLog,
  type NoteSigningKey,
} from "../src/audit/index.js";
import { createGate } from "../src/gate/index.js";
import { parsePolicy } from "../src/policy/index.js";
import { openSqliteAuditStore, StoreError, type AuditStore } from "../src/store/index.js";
import { sampleEvent, tempDir } from "./audit-helpers.js";

let dir: string;
let key: NoteSigningKey;
let db: string;
beforeEach(() => {
  dir = tempDir();
  db = join(dir, "data", "audit.db");
  key = generateSigningKey("test.example/gatehouse/audit");
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Counts transactions of a real SQLite store, to observe group commit. */
function countingStore(file: string, counts: number[]): AuditStore {
  const store = openSqliteAuditStore(file);
  return {
    ...bind(store),
    appendLocked: (known, work) =>
      store.appendLocked(known, (changes) => {
        const out = work(changes);
        if (out.records?.length) counts.push(out.records.length);
        return out;
      }),
  };
}

function bind(store: AuditStore): AuditStore {
  return {
    location: store.location,
    origin: () => store.origin(),
    setOrigin: (o) => store.setOrigin(o),
    nextSeq: () => store.nextSeq(),
    appendRecords: (r) => store.appendRecords(r),
    appendCheckpoint: (c) => store.appendCheckpoint(c),
    appendLocked: (k, w) => store.appendLocked(k, w),
    readRecords: (a, b, p) => store.readRecords(a, b, p),
    readRecordBytes: (a, b, p) => store.readRecordBytes(a, b, p),
    readLeafHashes: (a, b, p) => store.readLeafHashes(a, b, p),
    readCheckpoints: () => store.readCheckpoints(),
    close: () => store.close(),
  };
}

describe("the durable audit log", () => {
  it("acknowledges appends once durable and verifies clean against its own checkpoints", async () => {
    const log = await openAuditLog({ path: db, signingKey: key });
    await Promise.all(Array.from({ length: 100 }, (_, i) => log.append(sampleEvent(i))));
    expect(log.status()).toMatchObject({ size: 100 });
    await log.close();
    const report = await verifyAuditLog({ path: db, verifierKey: key.verifier });
    expect(report).toMatchObject({ ok: true, size: 100, problems: [], signedSize: 100, origin: key.name });
    expect(report.root).toMatch(/^[0-9a-f]{64}$/);
  });

  it("commits concurrent appends in a few group transactions, each acknowledged only after its batch", async () => {
    const counts: number[] = [];
    const log = await openAuditLog({ store: countingStore(db, counts), signingKey: key });
    await Promise.all(Array.from({ length: 2000 }, (_, i) => log.append(sampleEvent(i))));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(2000);
    expect(counts.length).toBeLessThanOrEqual(4);
    await log.close();
  });

  it("signs checkpoints every N records and on close, and publishes them to a file and over HTTP", async () => {
    const received: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        received.push(body);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkpoint`;
    const published = join(dir, "witness", "checkpoint");
    try {
      const log = await openAuditLog({
        path: db,
        signingKey: key,
        checkpointEvery: { records: 10 },
        publish: [fileCheckpointPublisher(published), httpCheckpointPublisher(url)],
      });
      for (let i = 0; i < 25; i++) await log.append(sampleEvent(i));
      await log.close();
    } finally {
      server.close();
    }
    const store = openSqliteAuditStore(db, { readonly: true });
    const sizes = (await store.readCheckpoints()).map((c) => c.size);
    await store.close();
    expect(sizes).toEqual([0, 10, 20, 25]);
    expect(openCheckpoint(readFileSync(published, "utf8"), key.verifier, key.name).size).toBe(25);
    expect(received.length).toBeGreaterThan(0);
    expect(openCheckpoint(received[received.length - 1] as string, key.verifier, key.name).size).toBe(25);
  });

  it("signs a checkpoint after the configured time even when few records arrive", async () => {
    const log = await openAuditLog({ path: db, signingKey: key, checkpointEvery: { ms: 40 } });
    await log.append(sampleEvent(0));
    await log.append(sampleEvent(1));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(log.status().checkpointSize).toBe(2);
    await log.close();
  });

  it("continues the same tree and hash chain after a reopen", async () => {
    for (let round = 0; round < 3; round++) {
      const log = await openAuditLog({ path: db, signingKey: key });
      for (let i = 0; i < 7; i++) await log.append(sampleEvent(round * 7 + i));
      await log.close();
    }
    expect(await verifyAuditLog({ path: db, verifierKey: key.verifier })).toMatchObject({ ok: true, size: 21 });
  });

  it("never writes an unredacted argument or result to the database file", async () => {
    const secret = "sk-live-0123456789abcdef";
    const log = await openAuditLog({
      path: db,
      signingKey: key,
      redact: (value) => JSON.parse(JSON.stringify(value).replaceAll(secret, "[secret]")) as unknown,
    });
    await log.append(sampleEvent(0, { args: { api_key: secret } }));
    await log.append(sampleEvent(1, { outcome: { status: "error", result: { echo: secret }, error: `bad key ${secret}` } }));
    await log.append({ type: "approval", time: new Date().toISOString(), action: "req-1", tool: "send_email", approval: { step: "answered", id: "req-1", by: "alice", reason: `approved, key ${secret}` } });
    await log.close();
    for (const file of [db, `${db}-wal`].filter((f) => existsSync(f))) {
      expect(readFileSync(file).toString("latin1")).not.toContain(secret);
    }
    expect(readFileSync(db).toString("latin1")).toContain("[secret]");
  });

  it("refuses an event the redaction hook fails on, and keeps working for the next", async () => {
    let fail = true;
    const log = await openAuditLog({
      path: db,
      signingKey: key,
      redact: (value) => {
        if (fail) throw new Error("scrubber unavailable");
        return value;
      },
    });
    await expect(log.append(sampleEvent(0))).rejects.toMatchObject({ code: "audit-redact-failed" });
    fail = false;
    await log.append(sampleEvent(2));
    await log.close();
    expect(await verifyAuditLog({ path: db, verifierKey: key.verifier })).toMatchObject({ ok: true, size: 1 });
  });

  it.each([
    ["an event that is not JSON", () => sampleEvent(0, { args: { n: 10n } }), "audit-event-invalid"],
    ["an event without a tool", () => ({ ...sampleEvent(0), tool: "" }), "audit-event-invalid"],
  ])("rejects %s without stopping the log", async (_name, make, code) => {
    const log = await openAuditLog({ path: db, signingKey: key });
    await expect(log.append(make())).rejects.toMatchObject({ code });
    await log.append(sampleEvent(4));
    expect(log.status()).toMatchObject({ size: 1 });
    await log.close();
  });

  it("rejects appends after close", async () => {
    const log = await openAuditLog({ path: db, signingKey: key });
    await log.close();
    await expect(log.append(sampleEvent(0))).rejects.toMatchObject({ code: "audit-closed" });
  });

  it("stops accepting events after a write of unknown outcome, and says why", async () => {
    let broken = false;
    const store = openSqliteAuditStore(db);
    const log = await openAuditLog({
      store: {
        ...bind(store),
        appendLocked: (known, work) => (broken ? Promise.reject(new StoreError("store-io", db, "disk I/O error")) : store.appendLocked(known, work)),
      },
      signingKey: key,
    });
    await log.append(sampleEvent(0));
    broken = true;
    await expect(log.append(sampleEvent(2))).rejects.toMatchObject({ code: "audit-unavailable" });
    broken = false;
    await expect(log.append(sampleEvent(4))).rejects.toThrow(/since an earlier failure: .*disk I\/O error/);
    expect(log.status().failure).toMatch(/disk I\/O error/);
    await log.close();
  });

  it("refuses to open with a key named for another log", async () => {
    const log = await openAuditLog({ path: db, signingKey: key });
    await log.close();
    await expect(openAuditLog({ path: db, signingKey: generateSigningKey("other.example/log") })).rejects.toMatchObject({
      code: "audit-key-mismatch",
      message: expect.stringContaining("this log is `test.example/gatehouse/audit`"),
    });
  });
});

describe("proofs from the store", () => {
  it("gives a valid inclusion proof for every record in every tree size, and consistency proofs between all sizes", async () => {
    const log = await openAuditLog({ path: db, signingKey: key });
    for (let i = 0; i < 21; i++) await log.append(sampleEvent(i));
    await log.close();
    const store = openSqliteAuditStore(db, { readonly: true });
    try {
      const roots = new Map<number, string>();
      for (let size = 1; size <= 21; size++) {
        for (let index = 0; index < size; index++) {
          const proof = await proveInclusion(store, index, size);
          expect((await checkProof(proof)).ok).toBe(true);
          if (!roots.has(size)) roots.set(size, proof.root);
          expect(proof.root).toBe(roots.get(size));
        }
      }
      for (let from = 0; from <= 21; from++) {
        for (let to = from; to <= 21; to++) {
          const proof = await proveConsistency(store, from, to);
          expect(await checkProof(proof)).toMatchObject({ ok: true });
          if (from > 0) expect(proof.fromRoot).toBe(roots.get(from));
          if (to > 0) expect(proof.toRoot).toBe(roots.get(to));
        }
      }
    } finally {
      await store.close();
    }
  });
});

describe("bad input and failures", () => {
  it("on a full disk: rejects the append with audit-disk-full, and acknowledged records survive and verify", async () => {
    const log = await openAuditLog({ path: db, signingKey: key, maxBytes: 96 * 1024, checkpointEvery: { records: 1_000_000 } });
    let acknowledged = 0;
    let error: unknown;
    const big = "x".repeat(2000);
    for (let i = 0; i < 1000; i++) {
      try {
        await log.append(sampleEvent(i * 2, { args: { note: big } }));
        acknowledged++;
      } catch (e) {
        error = e;
        break;
      }
    }
    expect(error).toBeInstanceOf(AuditError);
    expect(error).toMatchObject({ code: "audit-disk-full", message: expect.stringContaining("full") });
    expect(acknowledged).toBeGreaterThan(5);
    await log.close();
    const report = await verifyAuditLog({ path: db, verifierKey: key.verifier });
    expect(report).toMatchObject({ ok: true, size: acknowledged });
  });

  it("the gate denies every action once the log is full, and every allowed action is on record", async () => {
    const log = await openAuditLog({ path: db, signingKey: key, maxBytes: 64 * 1024, checkpointEvery: { records: 1_000_000 } });
    const policy = parsePolicy(readFileSync(join(import.meta.dirname, "..", "examples", "support-agent.yaml"), "utf8"));
    const gate = createGate({ policy, audit: log });
    let allowed = 0;
    let denied: unknown;
    for (let i = 0; i < 5000 && denied === undefined; i++) {
      const { decision } = await gate.decide({ agent: "support-bot", tool: "get_order", args: { order_id: `ord_${i}` } });
      if (decision.verdict === "allow") allowed++;
      else denied = decision;
    }
    expect(denied).toMatchObject({ verdict: "deny", code: "audit-unavailable", reasons: [expect.stringMatching(/full/)] });
    const again = await gate.decide({ agent: "support-bot", tool: "get_order", args: { order_id: "ord_1" } });
    expect(again.decision).toMatchObject({ verdict: "deny", code: "audit-unavailable" });
    await log.close();
    expect(await verifyAuditLog({ path: db, verifierKey: key.verifier })).toMatchObject({ ok: true, size: allowed });
  });

  it.each([
    ["a text file", (file: string) => writeFileSync(file, "not a database ".repeat(200)), "audit-store-corrupt", /not an SQLite database/],
    ["another application's database", (file: string) => copyFileSync(join(import.meta.dirname, "fixtures", "foreign.sqlite"), file), "audit-store-foreign", /not a Gatehouse audit log/],
  ])("refuses to open %s as the log", async (_name, make, code, message) => {
    const file = join(dir, "x.db");
    make(file);
    await expect(openAuditLog({ path: file, signingKey: key })).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });

  it("refuses to extend a log that no longer matches its published checkpoint", async () => {
    const published = join(dir, "witness", "checkpoint");
    const log = await openAuditLog({ path: db, signingKey: key, publish: [fileCheckpointPublisher(published)] });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    // Rewrite: a brand-new database with other records (no checkpoints) in place of the real one.
    rmSync(db);
    const forged = await openAuditLog({ path: db, signingKey: key });
    for (let i = 100; i < 105; i++) await forged.append(sampleEvent(i));
    await forged.close();
    await expect(openAuditLog({ path: db, signingKey: key, publish: [fileCheckpointPublisher(published)] })).rejects.toMatchObject({
      code: "audit-log-diverged",
    });
  });

  it("checks every checkpoint of a size, not just one: a stored checkpoint that disagrees with the records is caught", async () => {
    const published = join(dir, "witness", "checkpoint");
    const log = await openAuditLog({ path: db, signingKey: key, publish: [fileCheckpointPublisher(published)] });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    // A validly signed checkpoint of another log of the same size replaces the stored one.
    const other = join(dir, "other.db");
    const forged = await openAuditLog({ path: other, signingKey: key });
    for (let i = 100; i < 105; i++) await forged.append(sampleEvent(i));
    await forged.close();
    const otherDb = new Database(other, { readonly: true });
    const note = (otherDb.prepare("SELECT note FROM checkpoints WHERE size = 5").get() as { note: string }).note;
    otherDb.close();
    const raw = new Database(db);
    raw.exec("DROP TRIGGER IF EXISTS checkpoints_no_update");
    raw.prepare("UPDATE checkpoints SET note = ? WHERE size = 5").run(note);
    raw.close();
    await expect(openAuditLog({ path: db, signingKey: key, publish: [fileCheckpointPublisher(published)] })).rejects.toMatchObject({
      code: "audit-log-diverged",
      message: expect.stringContaining("stored checkpoint"),
    });
  });

  it("refuses to extend a log shorter than its published checkpoint", async () => {
    const published = join(dir, "witness", "checkpoint");
    const log = await openAuditLog({ path: db, signingKey: key, publish: [fileCheckpointPublisher(published)] });
    for (let i = 0; i < 5; i++) await log.append(sampleEvent(i));
    await log.close();
    rmSync(db);
    await expect(openAuditLog({ path: db, signingKey: key, publish: [fileCheckpointPublisher(published)] })).rejects.toMatchObject({
      code: "audit-log-diverged",
      message: expect.stringContaining("records were removed"),
    });
  });

  it("reports a checkpoint publication failure without losing records", async () => {
    const errors: AuditError[] = [];
    const log = await openAuditLog({
      path: db,
      signingKey: key,
      publish: [httpCheckpointPublisher("http://127.0.0.1:9/unreachable", { timeoutMs: 500 })],
      onPublishError: (e) => errors.push(e),
    });
    await log.append(sampleEvent(0));
    await log.checkpoint();
    expect(errors[0]).toMatchObject({ code: "audit-publish-failed" });
    expect(log.status().publishFailures).toBeGreaterThan(0);
    await log.close();
    expect(await verifyAuditLog({ path: db, verifierKey: key.verifier })).toMatchObject({ ok: true, size: 1 });
  });
});

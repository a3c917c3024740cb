import { spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  decodeRecord,
  fileCheckpointPublisher,
  generateSigningKey,
  hashLeafText,
  openAuditLog,
  openCheckpoint,
  signCheckpoint,
  verifyAuditLog,
  writeKeyFiles,
  type NoteSigningKey,
} from "../src/audit/index.js";
import { openSqliteAuditStore } from "../src/store/index.js";
import { collectPages, sampleEvent, tempDir } from "./audit-helpers.js";

/**
 * Several processes write one audit log (`gatehouse serve`, `gatehouse mcp` and the Claude Code
 * hook all default to `<data dir>/audit.db`). Each writer must number its batch after whatever the
 * others stored, chain to their last record and keep the Merkle tree continuous.
 */
const root = join(import.meta.dirname, "..");
let dir: string;
let key: NoteSigningKey;
let keyFile: string;

beforeAll(() => {
  dir = tempDir("gatehouse-multi-");
  key = generateSigningKey("multi.example/gatehouse/audit");
  keyFile = join(dir, "audit.key");
  writeKeyFiles(keyFile, key);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function expectVerified(db: string, size: number): Promise<void> {
  const report = await verifyAuditLog({ path: db, verifierKey: key.verifier });
  expect(report.problems).toEqual([]);
  expect(report).toMatchObject({ ok: true, size, signedSize: size });
  // Several checkpoints, each signed by the log's key for its own size (verify matched each root above).
  const store = openSqliteAuditStore(db, { readonly: true });
  try {
    const checkpoints = await store.readCheckpoints();
    expect(checkpoints.length).toBeGreaterThan(1);
    for (const c of checkpoints) expect(openCheckpoint(c.note, key.verifier, key.name).size).toBe(c.size);
  } finally {
    await store.close();
  }
}

async function actions(db: string): Promise<string[]> {
  const store = openSqliteAuditStore(db, { readonly: true });
  try {
    return (await collectPages(store.readRecords(0, Number.MAX_SAFE_INTEGER))).map((r) => decodeRecord(r.record, r.seq).event.action);
  } finally {
    await store.close();
  }
}

describe("several writers on one SQLite log", () => {
  it("interleaves 1,000 appends from each of two writers in one process, and verify passes", async () => {
    const db = join(dir, "in-process.db");
    const a = await openAuditLog({ path: db, signingKey: key, checkpointEvery: { records: 128 } });
    const b = await openAuditLog({ path: db, signingKey: key, checkpointEvery: { records: 128 } });
    try {
      for (let round = 0; round < 100; round++) {
        // Batches from both writers in flight at once, in both orders.
        const first = round % 2 === 0 ? a : b;
        const second = first === a ? b : a;
        await Promise.all([
          ...Array.from({ length: 10 }, (_, i) => first.append(sampleEvent(round * 20 + i, { action: `${first === a ? "a" : "b"}-${round}-${i}` }))),
          ...Array.from({ length: 10 }, (_, i) => second.append(sampleEvent(round * 20 + 10 + i, { action: `${second === a ? "a" : "b"}-${round}-${i}` }))),
        ]);
      }
      expect(a.status().failure).toBeUndefined();
      expect(b.status().failure).toBeUndefined();
    } finally {
      await a.close();
      await b.close();
    }
    await expectVerified(db, 2000);
    const seen = await actions(db);
    expect(new Set(seen).size).toBe(2000);
    expect(switches(seen)).toBeGreaterThanOrEqual(100);
  }, 60_000);

  it("lets two writers sign checkpoints at the same size without stopping either", async () => {
    const db = join(dir, "checkpoints.db");
    const a = await openAuditLog({ path: db, signingKey: key });
    const b = await openAuditLog({ path: db, signingKey: key });
    try {
      for (let round = 0; round < 5; round++) {
        await Promise.all(Array.from({ length: 7 }, (_, i) => a.append(sampleEvent(round * 7 + i))));
        const notes = await Promise.all([a.checkpoint(), b.checkpoint(), a.checkpoint(), b.checkpoint()]);
        const signed = notes.filter((n) => n !== undefined);
        // Both writers see the same log: at most one note per size, and all of them the same.
        expect(new Set(signed).size).toBeLessThanOrEqual(1);
        expect(a.status().failure).toBeUndefined();
        expect(b.status().failure).toBeUndefined();
        await b.append(sampleEvent(1000 + round));
      }
    } finally {
      await a.close();
      await b.close();
    }
    await expectVerified(db, 40);
  });

  it("refuses to extend a log whose checkpoint at the same size has another root (fail closed)", async () => {
    const db = join(dir, "diverged.db");
    const a = await openAuditLog({ path: db, signingKey: key });
    await a.append(sampleEvent(0));
    await a.checkpoint();
    // A second process with the same key signs another root at the next size behind a's back.
    const b = await openAuditLog({ path: db, signingKey: key });
    await b.append(sampleEvent(1));
    const raw = openSqliteAuditStore(db);
    await raw.appendCheckpoint({ size: 3, note: signCheckpoint({ origin: key.name, size: 3, root: Buffer.alloc(32, 7) }, key), created: "t" });
    // A well-formed record (its hash, seq and chain check out), so the checkpoint is what disagrees.
    const prevHash = Buffer.from((await collectPages(raw.readLeafHashes(1, 2)))[0]!.leafHash).toString("hex");
    const record = `{"event":{},"logged":"t","prev":"${prevHash}","seq":2,"v":1}`;
    await raw.appendRecords([{ seq: 2, leafHash: hashLeafText(record), record }]);
    await raw.close();
    await b.close().catch(() => undefined);
    await expect(a.append(sampleEvent(2))).rejects.toMatchObject({ code: "audit-log-diverged" });
    expect(a.status().failure).toMatch(/checkpoint/);
    await expect(a.append(sampleEvent(3))).rejects.toMatchObject({ code: "audit-unavailable" });
    await a.close();
  });
});

describe("publishing from several writers", () => {
  it("keeps a larger published checkpoint of the same log rather than going back to a smaller one", async () => {
    const file = join(dir, "witness", "checkpoint");
    const publisher = fileCheckpointPublisher(file);
    const note = (size: number, signer = key) => signCheckpoint({ origin: signer.name, size, root: Buffer.alloc(32, size) }, signer);
    await publisher.publish(note(10));
    // Another writer's checkpoint, signed earlier at a smaller size, arrives late.
    await publisher.publish(note(9));
    expect(readFileSync(file, "utf8")).toBe(note(10));
    await publisher.publish(note(12));
    expect(readFileSync(file, "utf8")).toBe(note(12));
    // Only a note of the same log counts: another log's is replaced as before.
    const other = generateSigningKey("other.example/gatehouse/audit");
    await publisher.publish(note(3, other));
    expect(readFileSync(file, "utf8")).toBe(note(3, other));
  });
});

describe("a write lock held by another process", () => {
  it("waits without blocking the event loop, rejects that batch with audit-busy after 5 s, and keeps the log going", async () => {
    const db = join(dir, "busy.db");
    const log = await openAuditLog({ path: db, signingKey: key });
    await log.append(sampleEvent(0));
    const other = new Database(db);
    other.pragma("busy_timeout = 0");
    other.exec("BEGIN IMMEDIATE");
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 100);
    try {
      const started = Date.now();
      await expect(log.append(sampleEvent(1))).rejects.toMatchObject({ code: "audit-busy" });
      expect(Date.now() - started).toBeGreaterThanOrEqual(4900);
      // The process kept serving its event loop while it waited for the lock.
      expect(ticks).toBeGreaterThan(30);
      expect(log.status().failure).toBeUndefined();
    } finally {
      clearInterval(ticker);
      other.exec("COMMIT");
      other.close();
    }
    await log.append(sampleEvent(2));
    await log.close();
    const report = await verifyAuditLog({ path: db, verifierKey: key.verifier });
    expect(report).toMatchObject({ ok: true, size: 2, signedSize: 2 });
  }, 20_000);
});

/** Starts a writer process; `ready` resolves once it opened the log, `start()` lets it write. */
function startWriter(db: string, prefix: string, count: number): { ready: Promise<void>; start: () => void; done: Promise<string> } {
  const child = spawn(process.execPath, ["--import", "tsx", join(root, "test", "fixtures", "audit-multi-writer.ts"), db, keyFile, prefix, String(count)], {
    cwd: root,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    if (out.startsWith("ready\n")) markReady();
  });
  child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const done = new Promise<string>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out.replace(/^ready\n/, "")) : reject(new Error(`writer ${prefix} exited with ${String(code)}: ${err}`))));
  });
  return { ready: Promise.race([ready, done.then(() => undefined)]), start: () => child.stdin.end("go\n"), done };
}

/** How often the writer changes from one record to the next (a sign the writers really interleaved). */
function switches(seen: readonly string[]): number {
  let n = 0;
  for (let i = 1; i < seen.length; i++) if (seen[i]![0] !== seen[i - 1]![0]) n++;
  return n;
}

describe("several writer processes on one SQLite log", () => {
  it("keeps every record of two processes appending at once, and verify passes", async () => {
    const db = join(dir, "two-processes.db");
    const writers = [startWriter(db, "p", 1000), startWriter(db, "q", 1000)];
    await Promise.all(writers.map((w) => w.ready));
    for (const w of writers) w.start();
    const outputs = await Promise.all(writers.map((w) => w.done));
    expect(outputs).toEqual(["done 1000\n", "done 1000\n"]);
    await expectVerified(db, 2000);
    const seen = await actions(db);
    expect(seen.filter((s) => s.startsWith("p-"))).toHaveLength(1000);
    expect(seen.filter((s) => s.startsWith("q-"))).toHaveLength(1000);
    expect(switches(seen)).toBeGreaterThan(10);
  }, 60_000);
});

describe("catching up checks what other writers stored before building on it", () => {
  it.each([
    ["a row whose text does not match its leaf hash", (seq: number, prev: string) => ({ record: `{"event":{},"logged":"x","prev":"${prev}","seq":${seq},"v":1}`, leafHash: Buffer.alloc(32, 7) })],
    ["a row that does not chain to the previous record", (seq: number) => {
      const record = `{"event":{},"logged":"x","prev":"${"00".repeat(32)}","seq":${seq},"v":1}`;
      return { record, leafHash: hashLeafText(record) };
    }],
    ["a row that names another sequence number", (seq: number, prev: string) => {
      const record = `{"event":{},"logged":"x","prev":"${prev}","seq":${seq + 5},"v":1}`;
      return { record, leafHash: hashLeafText(record) };
    }],
  ])("stops the log rather than sign over %s", async (_name, forge) => {
    const db = join(dir, `forged-${Math.random().toString(36).slice(2)}.db`);
    const log = await openAuditLog({ path: db, signingKey: key });
    await log.append(sampleEvent(0));
    await log.append(sampleEvent(1));
    // Someone with write access to the file (not the key) adds a row behind the writer's back.
    const raw = new Database(db);
    const last = raw.prepare("SELECT seq, leaf_hash FROM records ORDER BY seq DESC LIMIT 1").get() as { seq: number; leaf_hash: Buffer };
    const row = forge(last.seq + 1, last.leaf_hash.toString("hex"));
    raw.prepare("INSERT INTO records (seq, leaf_hash, record) VALUES (?, ?, ?)").run(last.seq + 1, row.leafHash, row.record);
    raw.close();
    await expect(log.append(sampleEvent(2))).rejects.toMatchObject({ code: "audit-log-diverged" });
    await expect(log.append(sampleEvent(3))).rejects.toMatchObject({ code: "audit-unavailable" });
    await log.close();
  });
});

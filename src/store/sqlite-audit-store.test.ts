import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteAuditStore } from "./sqlite-audit-store.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "gatehouse-store-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const row = (seq: number) => ({ seq, leafHash: Buffer.alloc(32, seq), record: `{"seq":${seq}}` });

async function collect<T>(pages: AsyncIterable<readonly T[]>): Promise<T[]> {
  const out: T[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}

describe("the SQLite audit store", () => {
  it("appends and reads back records and checkpoints in order, across pages", async () => {
    const file = join(dir, "audit.db");
    const store = openSqliteAuditStore(file);
    await store.setOrigin("example.com/log");
    await store.appendRecords([row(0), row(1), row(2)]);
    await store.appendRecords([row(3)]);
    await store.appendCheckpoint({ size: 4, note: "n", created: "t" });
    expect(await store.nextSeq()).toBe(4);
    expect((await collect(store.readRecords(1, 4, 2))).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await collect(store.readLeafHashes(0, 4, 3))).map((r) => r.leafHash[0])).toEqual([0, 1, 2, 3]);
    expect(await store.readCheckpoints()).toEqual([{ size: 4, note: "n", created: "t" }]);
    await store.close();
    const reader = openSqliteAuditStore(file, { readonly: true });
    expect(await reader.origin()).toBe("example.com/log");
    await reader.close();
  });

  it("reads leaf hashes back byte for byte, across pages, and reports a missing record as stored", async () => {
    const store = openSqliteAuditStore(join(dir, "audit.db"));
    const hashes = Array.from({ length: 10 }, (_, seq) => (seq === 4 ? Buffer.alloc(32) : randomBytes(32)));
    await store.appendRecords(hashes.map((leafHash, seq) => ({ seq, leafHash, record: `{"seq":${seq}}` })));
    for (const pageSize of [1, 3, 10, 16384]) {
      const read = await collect(store.readLeafHashes(2, 9, pageSize));
      expect(read.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8]);
      expect(read.map((r) => Buffer.from(r.leafHash).toString("hex"))).toEqual(hashes.slice(2, 9).map((h) => h.toString("hex")));
    }
    // A gap (written past the log's lock) comes back as it is, for the reader to report.
    await store.appendRecords([{ seq: 12, leafHash: randomBytes(32), record: "{}" }]);
    expect((await collect(store.readLeafHashes(8, 20, 3))).map((r) => r.seq)).toEqual([8, 9, 12]);
    await store.close();
  });

  it("reads every checkpoint, or only the latest", async () => {
    const store = openSqliteAuditStore(join(dir, "audit.db"));
    expect(await store.readCheckpoints({ latest: true })).toEqual([]);
    for (const size of [9, 5, 20]) await store.appendCheckpoint({ size, note: `n${size}`, created: "t" });
    expect((await store.readCheckpoints()).map((c) => c.size)).toEqual([5, 9, 20]);
    expect(await store.readCheckpoints({ latest: true })).toEqual([{ size: 20, note: "n20", created: "t" }]);
    await store.close();
  });

  it("writes a batch atomically: a conflicting sequence number leaves nothing behind", async () => {
    const store = openSqliteAuditStore(join(dir, "audit.db"));
    await store.appendRecords([row(0)]);
    await expect(store.appendRecords([row(1), row(0)])).rejects.toMatchObject({ code: "store-conflict" });
    expect(await store.nextSeq()).toBe(1);
    await store.close();
  });

  it.each([
    ["UPDATE records", "UPDATE records SET record = 'x' WHERE seq = 0"],
    ["DELETE FROM records", "DELETE FROM records WHERE seq = 0"],
    ["UPDATE checkpoints", "UPDATE checkpoints SET note = 'x'"],
    ["DELETE FROM checkpoints", "DELETE FROM checkpoints"],
    ["UPDATE meta", "UPDATE meta SET value = 'x'"],
    ["DELETE FROM meta", "DELETE FROM meta"],
  ])("rejects %s with a trigger, even from another connection", async (_name, sql) => {
    const file = join(dir, "audit.db");
    const store = openSqliteAuditStore(file);
    await store.setOrigin("o");
    await store.appendRecords([row(0)]);
    await store.appendCheckpoint({ size: 1, note: "n", created: "t" });
    await store.close();
    const raw = new Database(file);
    expect(() => raw.exec(sql)).toThrow(/append-only/);
    raw.close();
  });

  it("uses WAL with synchronous=FULL by default", async () => {
    const file = join(dir, "audit.db");
    const store = openSqliteAuditStore(file);
    await store.close();
    const raw = new Database(file);
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    raw.close();
  });

  it.each([
    ["a text file", (file: string) => writeFileSync(file, "hello, this is not a database at all, just some text...".repeat(100)), "store-corrupt"],
    ["another application's SQLite database", (file: string) => {
      const db = new Database(file);
      db.exec("CREATE TABLE users (id INTEGER)");
      db.close();
    }, "store-foreign"],
    ["a newer schema version", (file: string) => {
      openSqliteAuditStore(file).close().catch(() => undefined);
      const db = new Database(file);
      db.pragma("user_version = 99");
      db.close();
    }, "store-version"],
  ])("refuses %s instead of writing into it", (_name, make, code) => {
    const file = join(dir, "x.db");
    make(file);
    expect(() => openSqliteAuditStore(file)).toThrow(expect.objectContaining({ code }));
    expect(() => openSqliteAuditStore(file, { readonly: true })).toThrow(expect.objectContaining({ code }));
  });

  it("says the log is missing when opening a file that does not exist read-only", () => {
    expect(() => openSqliteAuditStore(join(dir, "none.db"), { readonly: true })).toThrow(expect.objectContaining({ code: "store-missing" }));
  });

  it("fails with store-full past maxBytes, and stays usable", async () => {
    const store = openSqliteAuditStore(join(dir, "audit.db"), { maxBytes: 64 * 1024 });
    let seq = 0;
    let error: unknown;
    try {
      for (; seq < 10_000; seq++) await store.appendRecords([{ seq, leafHash: Buffer.alloc(32), record: "x".repeat(500) }]);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: "store-full" });
    expect(await store.nextSeq()).toBe(seq);
    await store.close();
  });
});

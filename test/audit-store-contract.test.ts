import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, openAuditLog, verifyAuditLog, writeKeyFiles } from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { openPostgresAuditStore, openSqliteAuditStore, type AuditStore } from "../src/store/index.js";
import { collectPages, sampleEvent, tempDir } from "./audit-helpers.js";

/**
 * One contract, every implementation of the audit store port: SQLite (a real file) and
 * PostgreSQL (the real server on 127.0.0.1:5432, user postgres, trust auth).
 */
const PG_URL = "postgres://postgres@127.0.0.1:5432/postgres";

interface Backend {
  readonly name: string;
  /** A fresh, empty log. */
  open(): Promise<AuditStore>;
  /** Runs SQL as the owner, bypassing the store (to play the attacker). */
  raw(sql: string): Promise<void>;
  /** Reopens the same log read-only. */
  reopenReadonly(): Promise<AuditStore>;
  /** Opens the latest log again for writing, as another process would (its own connection). */
  openAnother(): Promise<AuditStore>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = tempDir("gatehouse-contract-");
  let file = "";
  let n = 0;
  return {
    name: "sqlite",
    open: () => {
      file = join(dir, `log-${n++}.db`);
      return Promise.resolve(openSqliteAuditStore(file));
    },
    raw: async (sql) => {
      await Promise.resolve();
      const db = new Database(file);
      try {
        db.exec(sql.replaceAll("{t}", ""));
      } finally {
        db.close();
      }
    },
    reopenReadonly: () => Promise.resolve(openSqliteAuditStore(file, { readonly: true })),
    openAnother: () => Promise.resolve(openSqliteAuditStore(file)),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

function postgresBackend(): Backend {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 4 });
  const schemas: string[] = [];
  let schema = "";
  return {
    name: "postgres",
    open: () => {
      schema = `gh_audit_test_${randomBytes(6).toString("hex")}`;
      schemas.push(schema);
      return openPostgresAuditStore({ pool, schema });
    },
    raw: async (sql) => {
      await pool.query(sql.replaceAll("{t}", `${schema}.`));
    },
    reopenReadonly: () => openPostgresAuditStore({ pool, schema, readonly: true }),
    openAnother: () => openPostgresAuditStore({ connectionString: PG_URL, schema }),
    cleanup: async () => {
      for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await pool.end();
    },
  };
}

const row = (seq: number) => ({ seq, leafHash: Buffer.alloc(32, seq), record: `{"seq":${seq},"text":"é ✓"}` });

describe.each([{ make: sqliteBackend }, { make: postgresBackend }])("audit store contract", ({ make }) => {
  const backend = make();
  afterAll(() => backend.cleanup());

  describe(backend.name, () => {
    let store: AuditStore;
    beforeAll(async () => {
      store = await backend.open();
    });
    afterAll(() => store.close());

    it("starts empty, sets its origin once, appends and reads back in order across pages", async () => {
      expect(await store.nextSeq()).toBe(0);
      expect(await store.origin()).toBeUndefined();
      await store.setOrigin("contract.example/log");
      await expect(store.setOrigin("other")).rejects.toMatchObject({ code: "store-conflict" });
      await store.appendRecords([row(0), row(1), row(2)]);
      await store.appendRecords([row(3), row(4)]);
      await store.appendCheckpoint({ size: 5, note: "note-5", created: "2026-01-31T00:00:00Z" });
      expect(await store.nextSeq()).toBe(5);
      expect(await store.origin()).toBe("contract.example/log");
      expect((await collectPages(store.readRecords(1, 5, 2))).map((r) => [r.seq, r.record])).toEqual([1, 2, 3, 4].map((s) => [s, row(s).record]));
      const bytes = await collectPages(store.readRecordBytes(0, 5, 3));
      expect(Buffer.from(bytes[4]!.bytes).toString("utf8")).toBe(row(4).record);
      expect((await collectPages(store.readLeafHashes(0, 5, 4))).map((r) => Buffer.from(r.leafHash)[0])).toEqual([0, 1, 2, 3, 4]);
      expect(await store.readCheckpoints()).toEqual([{ size: 5, note: "note-5", created: "2026-01-31T00:00:00Z" }]);
    });

    it("writes a batch atomically: a reused sequence number leaves nothing of the batch", async () => {
      await expect(store.appendRecords([row(5), row(6), row(2)])).rejects.toMatchObject({ code: "store-conflict" });
      expect(await store.nextSeq()).toBe(5);
    });

    it.each([
      ["UPDATE records", "UPDATE {t}records SET record = 'x' WHERE seq = 0"],
      ["DELETE FROM records", "DELETE FROM {t}records WHERE seq = 0"],
      ["UPDATE checkpoints", "UPDATE {t}checkpoints SET note = 'x'"],
      ["DELETE FROM checkpoints", "DELETE FROM {t}checkpoints"],
      ["UPDATE meta", "UPDATE {t}meta SET value = 'x'"],
      ["DELETE FROM meta", "DELETE FROM {t}meta"],
    ])("rejects %s, even from outside the store", async (_name, sql) => {
      await expect(backend.raw(sql)).rejects.toThrow(/append-only/);
      expect(await store.nextSeq()).toBe(5);
    });

    it("reads checkpoints back in numeric order of size", async () => {
      for (const size of [20, 100, 9]) await store.appendCheckpoint({ size, note: `note-${size}`, created: "t" });
      expect((await store.readCheckpoints()).map((c) => c.size)).toEqual([5, 9, 20, 100]);
    });

    it("opens read-only", async () => {
      const reader = await backend.reopenReadonly();
      expect(await reader.nextSeq()).toBe(5);
      await reader.close();
    });

    it("carries a whole audit log that verifies, and verify catches a record changed behind its back", async () => {
      const logStore = await backend.open();
      const key = generateSigningKey("contract.example/gatehouse/audit");
      const log = await openAuditLog({ store: logStore, signingKey: key, checkpointEvery: { records: 8 } });
      await Promise.all(Array.from({ length: 30 }, (_, i) => log.append(sampleEvent(i))));
      await log.close();
      const reader = await backend.reopenReadonly();
      const clean = await verifyAuditLog({ store: reader, verifierKey: key.verifier });
      expect(clean.problems).toEqual([]);
      expect(clean).toMatchObject({ ok: true, size: 30, signedSize: 30 });
      await reader.close();
      await backend.raw(
        backend.name === "postgres"
          ? "ALTER TABLE {t}records DISABLE TRIGGER USER; UPDATE {t}records SET record = replace(record, 'ord_11', 'ord_99') WHERE seq = 11;"
          : "DROP TRIGGER records_no_update; UPDATE records SET record = replace(record, 'ord_11', 'ord_99') WHERE seq = 11;",
      );
      const after = await backend.reopenReadonly();
      const report = await verifyAuditLog({ store: after, verifierKey: key.verifier });
      await after.close();
      expect(report.ok).toBe(false);
      expect(report.problems[0]).toMatchObject({ code: "record-changed", index: 11 });
    });

    it("appends under the write lock after what another writer stored, and tells what that was", async () => {
      const one = await backend.open();
      const two = await backend.openAnother();
      try {
        await one.appendLocked(0, (changes) => {
          expect(changes).toEqual({ size: 0, leaves: [], checkpoints: [] });
          return { records: [row(0), row(1)], checkpoint: { size: 2, note: "note-2", created: "t" } };
        });
        // `two` last saw an empty log: it is told about both records and the checkpoint.
        await two.appendLocked(0, (changes) => {
          expect(changes.size).toBe(2);
          expect(changes.leaves.map((l) => [l.seq, Buffer.from(l.leafHash)[0]])).toEqual([[0, 0], [1, 1]]);
          expect(changes.checkpoints).toEqual([{ size: 2, note: "note-2", created: "t" }]);
          return { records: [row(2)] };
        });
        // A writer that is up to date reads no records, and the checkpoints from its size on.
        await one.appendLocked(3, (changes) => {
          expect(changes).toEqual({ size: 3, leaves: [], checkpoints: [] });
          return {};
        });
        expect(await one.nextSeq()).toBe(3);
        // What work throws comes back unchanged, and nothing of it is written.
        const refusal = new Error("diverged");
        await expect(two.appendLocked(3, () => { throw refusal; })).rejects.toBe(refusal);
        // A conflicting append writes nothing, checkpoint included.
        await expect(two.appendLocked(3, () => ({ records: [row(3), row(1)], checkpoint: { size: 4, note: "x", created: "t" } }))).rejects.toMatchObject({ code: "store-conflict" });
        expect(await two.nextSeq()).toBe(3);
        expect((await two.readCheckpoints()).map((c) => c.size)).toEqual([2]);
      } finally {
        await one.close();
        await two.close();
      }
    });

    it("serialises locked appends from two connections: each numbers its batch after the other's", async () => {
      const one = await backend.open();
      const two = await backend.openAnother();
      try {
        const known = new Map([[one, 0], [two, 0]]);
        const append = (store: AuditStore, tag: number) => {
          const from = known.get(store)!;
          return store.appendLocked(from, (changes) => {
            // Every record since `from`, in numeric order (9 before 10).
            expect(changes.leaves.map((l) => l.seq)).toEqual(Array.from({ length: changes.size - from }, (_, i) => from + i));
            const records = [0, 1, 2].map((i) => ({ seq: changes.size + i, leafHash: Buffer.alloc(32, tag), record: `{"tag":${tag}}` }));
            known.set(store, changes.size + records.length);
            return { records };
          });
        };
        await Promise.all(Array.from({ length: 20 }, (_, i) => append(i % 2 === 0 ? one : two, i)));
        expect(await one.nextSeq()).toBe(60);
        const tags = (await collectPages(one.readRecords(0, 60))).map((r) => JSON.parse(r.record) as { tag: number });
        // Each batch of three is whole: no batch was split by the other's.
        for (let i = 0; i < 60; i += 3) expect(new Set(tags.slice(i, i + 3).map((t) => t.tag)).size).toBe(1);
      } finally {
        await one.close();
        await two.close();
      }
    });

    it("carries two writers of one log (two connections), interleaved, and the log verifies", async () => {
      const key = generateSigningKey("contract.example/gatehouse/audit");
      const a = await openAuditLog({ store: await backend.open(), signingKey: key, checkpointEvery: { records: 50 } });
      const b = await openAuditLog({ store: await backend.openAnother(), signingKey: key, checkpointEvery: { records: 50 } });
      try {
        for (let round = 0; round < 20; round++) {
          await Promise.all([
            ...Array.from({ length: 10 }, (_, i) => a.append(sampleEvent(round * 20 + i))),
            ...Array.from({ length: 10 }, (_, i) => b.append(sampleEvent(round * 20 + 10 + i))),
            ...(round % 5 === 0 ? [a.checkpoint(), b.checkpoint()] : []),
          ]);
        }
        expect(a.status().failure).toBeUndefined();
        expect(b.status().failure).toBeUndefined();
      } finally {
        await a.close();
        await b.close();
      }
      const reader = await backend.reopenReadonly();
      const report = await verifyAuditLog({ store: reader, verifierKey: key.verifier });
      await reader.close();
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, size: 400, signedSize: 400 });
    });

    it("signs one checkpoint when several are asked for at once, and keeps writing", async () => {
      const logStore = await backend.open();
      const key = generateSigningKey("contract.example/gatehouse/audit");
      const log = await openAuditLog({ store: logStore, signingKey: key });
      try {
        for (let round = 0; round < 3; round++) {
          await Promise.all(Array.from({ length: 5 }, (_, i) => log.append(sampleEvent(round * 5 + i))));
          // Two signings of the same size at once must not collide on the store's unique size.
          const notes = await Promise.all([log.checkpoint(), log.checkpoint(), log.checkpoint()]);
          expect(notes.filter((n) => n !== undefined)).toHaveLength(1);
          expect(log.status()).toMatchObject({ size: (round + 1) * 5, checkpointSize: (round + 1) * 5 });
          expect(log.status().failure).toBeUndefined();
        }
        await log.append(sampleEvent(99));
      } finally {
        await log.close();
      }
    });
  });
});

describe("several PostgreSQL writers whatever the server's defaults", () => {
  it("interleave correctly when sessions default to REPEATABLE READ", async () => {
    const schema = `gh_audit_test_${randomBytes(6).toString("hex")}`;
    // A snapshot taken before the append lock is granted would miss the previous holder's records.
    const strict = () => new pg.Pool({ connectionString: PG_URL, max: 2, options: "-c default_transaction_isolation=repeatable\\ read" });
    const pools = [strict(), strict()];
    try {
      const check = await pools[0]!.query<{ default_transaction_isolation: string }>("SHOW default_transaction_isolation");
      expect(check.rows[0]!.default_transaction_isolation).toBe("repeatable read");
      const key = generateSigningKey("rr.example/gatehouse/audit");
      const a = await openAuditLog({ store: await openPostgresAuditStore({ pool: pools[0]!, schema }), signingKey: key });
      const b = await openAuditLog({ store: await openPostgresAuditStore({ pool: pools[1]!, schema }), signingKey: key });
      try {
        for (let round = 0; round < 10; round++) {
          await Promise.all([a.append(sampleEvent(round * 2)), b.append(sampleEvent(round * 2 + 1))]);
        }
        expect(a.status().failure).toBeUndefined();
        expect(b.status().failure).toBeUndefined();
      } finally {
        await a.close();
        await b.close();
      }
      const reader = await openPostgresAuditStore({ pool: pools[0]!, schema, readonly: true });
      const report = await verifyAuditLog({ store: reader, verifierKey: key.verifier });
      expect(report.problems).toEqual([]);
      expect(report).toMatchObject({ ok: true, size: 20 });
    } finally {
      await pools[0]!.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      for (const pool of pools) await pool.end();
    }
  });
});

describe("postgres store setup", () => {
  it("refuses a schema that holds no audit log when opened read-only", async () => {
    await expect(openPostgresAuditStore({ connectionString: PG_URL, schema: "gh_audit_absent_schema", readonly: true })).rejects.toMatchObject({ code: "store-missing" });
  });

  it("refuses a schema name that could inject SQL", async () => {
    await expect(openPostgresAuditStore({ connectionString: PG_URL, schema: "x; DROP TABLE y" })).rejects.toThrow(/lowercase letters, digits and underscores/);
  });

  it("says the server cannot be reached", async () => {
    await expect(openPostgresAuditStore({ connectionString: "postgres://postgres@127.0.0.1:1/postgres" })).rejects.toMatchObject({ code: "store-missing" });
  });
});

describe("gatehouse audit on PostgreSQL", () => {
  it("verifies and exports a log given as a postgres:// URL with ?schema=", async () => {
    const schema = `gh_audit_test_${randomBytes(6).toString("hex")}`;
    const dir = tempDir("gatehouse-pgcli-");
    const pool = new pg.Pool({ connectionString: PG_URL, max: 2 });
    try {
      const key = generateSigningKey("pgcli.example/gatehouse/audit");
      const pub = writeKeyFiles(join(dir, "audit.key"), key);
      const log = await openAuditLog({ store: await openPostgresAuditStore({ pool, schema }), signingKey: key });
      for (let i = 0; i < 6; i++) await log.append(sampleEvent(i));
      await log.close();
      let out = "";
      const add = (t: string) => (out += t.endsWith("\n") ? t : `${t}\n`);
      const io = { out: add, err: add };
      expect(await runCli(["audit", "verify", "--db", `${PG_URL}?schema=${schema}`, "--key", pub, "--json"], io)).toBe(0);
      expect(JSON.parse(out)).toMatchObject({ ok: true, size: 6 });
      out = "";
      expect(await runCli(["audit", "export", "--db", `${PG_URL}?schema=${schema}`, "--format", "jsonl"], io)).toBe(0);
      expect(out.trimEnd().split("\n")).toHaveLength(6);
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pool.end();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

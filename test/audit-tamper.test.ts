import { readFileSync, rmSync, truncateSync, writeFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fileCheckpointPublisher,
  generateSigningKey,
  hashLeafText,
  openAuditLog,
  signCheckpoint,
  verifyAuditLog,
  type VerifyReport,
} from "../src/audit/index.js";
import { sampleEvent, tempDir } from "./audit-helpers.js";

/**
 * Tampering with the database file behind the log's back, each way the issue lists, and what
 * `verify` must say. The pristine log has 40 records, checkpoints every 10, and its latest
 * checkpoint published to a file outside the database.
 */
const key = generateSigningKey("tamper.example/gatehouse/audit");
let dir: string;
let pristine: Buffer;
let published: string;

beforeAll(async () => {
  dir = tempDir("gatehouse-tamper-");
  published = join(dir, "witness", "checkpoint");
  const db = join(dir, "pristine.db");
  const log = await openAuditLog({ path: db, signingKey: key, checkpointEvery: { records: 10 }, publish: [fileCheckpointPublisher(published)] });
  for (let i = 0; i < 40; i++) await log.append(sampleEvent(i));
  await log.close();
  pristine = readFileSync(db);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function copyOfLog(): string {
  const file = join(dir, `case-${n++}.db`);
  writeFileSync(file, pristine);
  return file;
}

function sql(file: string, statements: string): void {
  const db = new Database(file);
  db.exec(statements);
  db.close();
}

async function verify(file: string, extra: { note: string; source: string }[] = []): Promise<VerifyReport> {
  return verifyAuditLog({ path: file, verifierKey: key.verifier, checkpoints: [{ note: readFileSync(published, "utf8"), source: published }, ...extra] });
}

describe("verify on an untouched log", () => {
  it("passes and vouches for all 40 records", async () => {
    const report = await verify(copyOfLog());
    expect(report).toMatchObject({ ok: true, size: 40, problems: [], signedSize: 40 });
  });
});

describe("verify catches tampering with the database file", () => {
  it.each([
    {
      name: "a byte flipped inside record 17 (in the file itself)",
      tamper: (file: string) => {
        const bytes = readFileSync(file);
        const at = bytes.indexOf("act-000017");
        expect(at).toBeGreaterThan(0);
        bytes[at + 9] = "8".charCodeAt(0);
        writeFileSync(file, bytes);
      },
      first: { code: "record-changed", index: 17, message: expect.stringContaining("record 17 was changed") },
    },
    {
      name: "record 23 deleted with the triggers dropped",
      tamper: (file: string) => sql(file, "DROP TRIGGER records_no_delete; DELETE FROM records WHERE seq = 23;"),
      first: { code: "record-missing", index: 23, message: expect.stringContaining("records 23..23 are missing") },
    },
    {
      name: "records 30 and 31 swapped with the triggers dropped",
      tamper: (file: string) =>
        sql(
          file,
          `DROP TRIGGER records_no_update;
           CREATE TEMP TABLE t AS SELECT * FROM records WHERE seq IN (30, 31);
           UPDATE records SET record = (SELECT record FROM t WHERE seq = 31), leaf_hash = (SELECT leaf_hash FROM t WHERE seq = 31) WHERE seq = 30;
           UPDATE records SET record = (SELECT record FROM t WHERE seq = 30), leaf_hash = (SELECT leaf_hash FROM t WHERE seq = 30) WHERE seq = 31;`,
        ),
      first: { code: "record-out-of-place", index: 30, message: expect.stringContaining("position 30 holds record 31") },
    },
    {
      name: "record 14 rewritten together with its stored hash",
      tamper: (file: string) => {
        const db = new Database(file);
        db.exec("DROP TRIGGER records_no_update");
        const { record } = db.prepare("SELECT record FROM records WHERE seq = 14").get() as { record: string };
        const forged = record.replace("reading orders is allowed", "nothing to see here");
        expect(forged).not.toBe(record);
        db.prepare("UPDATE records SET record = ?, leaf_hash = ? WHERE seq = 14").run(forged, hashLeafText(forged));
        db.close();
      },
      first: { code: "chain-broken", index: 14, message: expect.stringContaining("record 14 was changed or replaced") },
    },
    {
      name: "record 0 rewritten with its hash to claim a predecessor",
      tamper: (file: string) => {
        const db = new Database(file);
        db.exec("DROP TRIGGER records_no_update");
        const { record } = db.prepare("SELECT record FROM records WHERE seq = 0").get() as { record: string };
        const forged = record.replace(',"seq":0,', `,"prev":"${"0".repeat(64)}","seq":0,`);
        expect(forged).not.toBe(record);
        db.prepare("UPDATE records SET record = ?, leaf_hash = ? WHERE seq = 0").run(forged, hashLeafText(forged));
        db.close();
      },
      first: { code: "record-changed", index: 0, message: expect.stringContaining("the first record names a predecessor") },
    },
    {
      name: "the last 15 records and their checkpoints removed with the triggers dropped",
      tamper: (file: string) =>
        sql(file, "DROP TRIGGER records_no_delete; DROP TRIGGER checkpoints_no_delete; DELETE FROM records WHERE seq >= 25; DELETE FROM checkpoints WHERE size > 25;"),
      first: { code: "log-truncated", size: 40, message: expect.stringContaining("the log has 25 records but the checkpoint in") },
    },
    {
      name: "the file truncated to half its size",
      tamper: (file: string) => truncateSync(file, Math.floor(statSync(file).size / 2)),
      first: { code: "store-corrupt" },
    },
    {
      name: "the whole file deleted",
      tamper: (file: string) => rmSync(file),
      first: { code: "log-missing" },
    },
  ])("$name", async ({ tamper, first }) => {
    const file = copyOfLog();
    tamper(file);
    const report = await verify(file);
    expect(report.ok).toBe(false);
    expect(report.problems[0]).toMatchObject(first);
  });

  it("the whole file replaced with a consistent forgery signed by another key", async () => {
    const forger = generateSigningKey(key.name); // same name, so the forgery claims the same origin
    const file = join(dir, "forged.db");
    const log = await openAuditLog({ path: file, signingKey: forger, checkpointEvery: { records: 10 } });
    for (let i = 0; i < 40; i++) await log.append(sampleEvent(i, i === 17 ? { principal: "mallory" } : {}));
    await log.close();
    // The forgery is internally consistent: with the forger's key it verifies.
    expect(await verifyAuditLog({ path: file, verifierKey: forger.verifier })).toMatchObject({ ok: true });
    const report = await verify(file);
    expect(report.ok).toBe(false);
    const codes = report.problems.map((p) => p.code);
    expect(codes).toContain("checkpoint-mismatch");
    expect(codes).toContain("checkpoint-untrusted");
    expect(report.problems.find((p) => p.code === "checkpoint-mismatch")).toMatchObject({ size: 40, source: published });
    expect(report.problems.find((p) => p.code === "checkpoint-untrusted")?.message).toMatch(/not signed by the trusted key/);
  });
});

describe("verify checks the checkpoints it is given", () => {
  it.each([
    ["a checkpoint from another log", () => signCheckpoint({ origin: "other.example/log", size: 40, root: Buffer.alloc(32) }, key), "checkpoint-foreign"],
    ["a checkpoint signed by another key", () => signCheckpoint({ origin: key.name, size: 40, root: Buffer.alloc(32) }, generateSigningKey(key.name)), "checkpoint-untrusted"],
    ["a checkpoint that is not a signed note", () => "hello\n", "checkpoint-malformed"],
    ["a checkpoint for a larger log", () => signCheckpoint({ origin: key.name, size: 41, root: Buffer.alloc(32) }, key), "log-truncated"],
  ])("reports %s", async (_name, make, code) => {
    const report = await verify(copyOfLog(), [{ note: make(), source: "given.checkpoint" }]);
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.objectContaining({ code, source: "given.checkpoint" })]);
  });
});

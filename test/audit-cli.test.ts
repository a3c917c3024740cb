import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  fileCheckpointPublisher,
  hashLeafText,
  openAuditLog,
  readSigningKeyFile,
  tailAuditLog,
} from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { openSqliteAuditStore } from "../src/store/index.js";
import { sampleEvent, tempDir } from "./audit-helpers.js";

async function cli(...argv: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(argv, {
    out: (t) => (stdout += t.endsWith("\n") ? t : `${t}\n`),
    err: (t) => (stderr += t.endsWith("\n") ? t : `${t}\n`),
  });
  return { code, stdout, stderr };
}

let dir: string;
let keyFile: string;
let pubFile: string;
let db: string;
let published: string;

beforeAll(async () => {
  dir = tempDir("gatehouse-cli-");
  keyFile = join(dir, "keys", "audit.key");
  pubFile = `${keyFile}.pub`;
  db = join(dir, "audit.db");
  published = join(dir, "witness", "checkpoint");
  const { code, stdout } = await cli("audit", "keygen", "--name", "cli.example/gatehouse/audit", "--out", keyFile);
  expect(code).toBe(0);
  expect(stdout).toMatch(/verifier key: cli\.example\/gatehouse\/audit\+[0-9a-f]{8}\+/);
  const log = await openAuditLog({ path: db, signingKey: readSigningKeyFile(keyFile), checkpointEvery: { records: 10 }, publish: [fileCheckpointPublisher(published)] });
  for (let i = 0; i < 30; i++) await log.append(sampleEvent(i));
  await log.append(sampleEvent(31, { outcome: { status: "error", error: "=HYPERLINK(\"http://evil.example\")" } }));
  await log.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function copyDb(name: string): string {
  const file = join(dir, name);
  writeFileSync(file, readFileSync(db));
  return file;
}

describe("gatehouse audit keygen", () => {
  it("writes a private key only its owner can read, and a public key", () => {
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, "utf8")).toMatch(/^PRIVATE\+KEY\+cli\.example\/gatehouse\/audit\+[0-9a-f]{8}\+/);
    expect(readFileSync(pubFile, "utf8")).toMatch(/^cli\.example\/gatehouse\/audit\+[0-9a-f]{8}\+/);
  });

  it("never overwrites an existing key", async () => {
    const before = readFileSync(keyFile, "utf8");
    const { code, stderr } = await cli("audit", "keygen", "--out", keyFile);
    expect(code).toBe(1);
    expect(stderr).toContain("already exists; keys are never overwritten");
    expect(readFileSync(keyFile, "utf8")).toBe(before);
  });

  it("defaults to the data directory under XDG_DATA_HOME", async () => {
    const previous = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = join(dir, "xdg");
    try {
      const { code } = await cli("audit", "keygen");
      expect(code).toBe(0);
      expect(existsSync(join(dir, "xdg", "gatehouse", "audit.key"))).toBe(true);
      expect(existsSync(join(dir, "xdg", "gatehouse", "audit.key.pub"))).toBe(true);
    } finally {
      if (previous === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = previous;
    }
  });
});

describe("gatehouse audit verify", () => {
  it("exits 0 with {ok, size, root} and how much of the log is signed when the log is intact", async () => {
    const { code, stdout } = await cli("audit", "verify", "--db", db, "--key", pubFile, "--checkpoint", published, "--json");
    expect(code).toBe(0);
    const out = JSON.parse(stdout) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(["ok", "size", "root", "checkpointsVerified", "signedSize"]);
    expect(out).toMatchObject({ ok: true, size: 31, root: expect.stringMatching(/^[0-9a-f]{64}$/), signedSize: 31, checkpointsVerified: expect.any(Number) });
  });

  it("prints a readable summary without --json", async () => {
    const { code, stdout } = await cli("audit", "verify", "--db", db, "--key", pubFile);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^ok: 31 records, root [0-9a-f]{64}\n {2}\d+ checkpoint\(s\) verified; signed up to 31\n$/);
  });

  it("exits 1 and names the first bad record when one was changed", async () => {
    const file = copyDb("changed.db");
    const raw = new Database(file);
    raw.exec("DROP TRIGGER records_no_update; UPDATE records SET record = replace(record, 'ord_9', 'ord_X') WHERE seq = 9;");
    raw.close();
    const { code, stdout } = await cli("audit", "verify", "--db", file, "--key", pubFile, "--json");
    expect(code).toBe(1);
    const out = JSON.parse(stdout) as { ok: boolean; problems: { code: string; index?: number; message: string }[] };
    expect(out.ok).toBe(false);
    expect(out.problems[0]).toEqual({ code: "record-changed", index: 9, message: expect.stringContaining("record 9 was changed") });
  });

  it.each([
    ["the verifier key is missing", () => ["--db", db, "--key", join(dir, "none.pub")], "audit-key-missing"],
    ["the database is another application's", () => ["--db", join(import.meta.dirname, "fixtures", "foreign.sqlite"), "--key", pubFile], "store-foreign"],
    ["the database does not exist", () => ["--db", join(dir, "gone.db"), "--key", pubFile], "log-missing"],
  ])("exits 1 with a clear problem when %s", async (_name, args, problem) => {
    const { code, stdout } = await cli("audit", "verify", ...args(), "--json");
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ ok: false, problems: [{ code: problem }] });
  });

  it("exits 2 when a --checkpoint file cannot be read", async () => {
    const { code, stderr } = await cli("audit", "verify", "--db", db, "--key", pubFile, "--checkpoint", join(dir, "none"));
    expect(code).toBe(2);
    expect(stderr).toMatch(/--checkpoint .*none: cannot read it \(ENOENT\)/);
  });
});

describe("gatehouse audit proof and check-proof", () => {
  it("prints an inclusion proof that checks out offline against the signed checkpoint", async () => {
    const proof = await cli("audit", "proof", "--db", db, "--index", "13");
    expect(proof.code).toBe(0);
    const parsed = JSON.parse(proof.stdout) as { size: number; checkpoint?: string; record: string; leafHash: string };
    // Default size: the latest signed checkpoint that covers the record (the one signed on close).
    expect(parsed).toMatchObject({ type: "inclusion", index: 13, size: 31 });
    expect(parsed.checkpoint).toContain("cli.example/gatehouse/audit\n31\n");
    expect(hashLeafText(parsed.record).toString("hex")).toBe(parsed.leafHash);
    const file = join(dir, "inclusion.json");
    writeFileSync(file, proof.stdout);
    const check = await cli("audit", "check-proof", "--proof", file, "--key", pubFile);
    expect(check).toMatchObject({ code: 0, stdout: expect.stringContaining("ok: the proof holds: record 13 is in the log of 31 records") });
  });

  it("prints a consistency proof that checks out offline", async () => {
    const proof = await cli("audit", "proof", "--db", db, "--from", "10", "--to", "30");
    expect(proof.code).toBe(0);
    const file = join(dir, "consistency.json");
    writeFileSync(file, proof.stdout);
    const check = await cli("audit", "check-proof", "--proof", file, "--key", pubFile, "--json");
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ ok: true, rootsTrusted: true });
  });

  it.each([
    ["a proof hash was changed", (p: Record<string, unknown>) => ({ ...p, proof: (p.proof as string[]).map((h, i) => (i === 0 ? `${h[0] === "0" ? "1" : "0"}${h.slice(1)}` : h)) }), /does not lead to the expected root/],
    ["the record was changed", (p: Record<string, unknown>) => ({ ...p, record: (p.record as string).replace("ord_13", "ord_14") }), /does not hash to its leafHash/],
    ["the root is not vouched for by a checkpoint", (p: Record<string, unknown>) => ({ ...p, checkpoint: undefined }), /no checkpoint signed by the trusted key vouches for the root at size 31/],
  ])("exits 1 when %s", async (_name, change, message) => {
    const proof = JSON.parse((await cli("audit", "proof", "--db", db, "--index", "13")).stdout) as Record<string, unknown>;
    const file = join(dir, "bad-proof.json");
    writeFileSync(file, JSON.stringify(change(proof)));
    const check = await cli("audit", "check-proof", "--proof", file, "--key", pubFile);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(message);
  });

  it("refuses a file that is not a proof, naming the field", async () => {
    const file = join(dir, "not-proof.json");
    writeFileSync(file, JSON.stringify({ type: "inclusion", index: -1 }));
    const check = await cli("audit", "check-proof", "--proof", file);
    expect(check.code).toBe(1);
    expect(check.stderr).toMatch(/not a Gatehouse proof/);
  });

  it.each([
    ["neither --index nor --from", ["--db", "x"], /give either --index I or --from SIZE1/],
    ["a negative index", ["--index", "-1"], /must be a whole number/],
    ["a word for an index", ["--index", "abc"], /must be a whole number/],
  ])("exits 2 for %s", async (_name, args, message) => {
    const { code, stderr } = await cli("audit", "proof", ...args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it("exits 1 for an index past the end of the log", async () => {
    const { code, stderr } = await cli("audit", "proof", "--db", db, "--index", "99");
    expect(code).toBe(1);
    expect(stderr).toMatch(/index 99 is not inside a log of 31 records/);
  });
});

describe("gatehouse audit export", () => {
  it("exports JSONL lines that are the exact hashed records", async () => {
    const { code, stdout } = await cli("audit", "export", "--db", db, "--format", "jsonl");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(31);
    const store = openSqliteAuditStore(db, { readonly: true });
    for await (const page of store.readLeafHashes(0, 31)) {
      for (const leaf of page) expect(hashLeafText(lines[leaf.seq] as string).equals(leaf.leafHash)).toBe(true);
    }
    await store.close();
  });

  it("filters by agent and time", async () => {
    const { stdout } = await cli("audit", "export", "--db", db, "--format", "jsonl", "--agent", "billing-bot", "--since", "2026-01-31T12:00:00.006Z", "--until", "2026-01-31T12:00:00.013Z");
    const seqs = stdout.trimEnd().split("\n").map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual([6, 9, 12]);
  });

  it("exports CSV with a header and neutralises spreadsheet formulas", async () => {
    const { stdout } = await cli("audit", "export", "--db", db, "--format", "csv");
    const rows = stdout.split("\r\n");
    expect(rows[0]).toMatch(/^seq,logged,time,type,action,agent,/);
    expect(rows).toHaveLength(33);
    expect(stdout).toContain(`"'=HYPERLINK(""http://evil.example"")"`);
    expect(stdout).not.toMatch(/,=HYPERLINK/);
  });

  it("exports OCSF API Activity events", async () => {
    const { stdout } = await cli("audit", "export", "--db", db, "--format", "ocsf");
    const events = stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toHaveLength(31);
    for (const e of events) {
      expect(e).toMatchObject({ class_uid: 6003, category_uid: 6, metadata: { version: "1.3.0", product: { name: "Gatehouse" } } });
      expect(e.type_uid).toBe(600300 + (e.activity_id as number));
      for (const field of ["activity_id", "time", "severity_id", "actor", "api", "src_endpoint"]) expect(e).toHaveProperty(field);
    }
    expect(events[0]).toMatchObject({ status_id: 2, status: "Failure", status_code: "denied-by-rule", api: { operation: "send_email" } });
    expect(events[2]).toMatchObject({ activity_id: 2, activity_name: "Read", status_id: 1 });
  });

  it("exports OpenTelemetry execute_tool spans with gen_ai attributes", async () => {
    const { stdout } = await cli("audit", "export", "--db", db, "--format", "otel");
    type Span = { name: string; kind: number; startTimeUnixNano: string; endTimeUnixNano: string; status: { code: number }; attributes: { key: string; value: Record<string, unknown> }[] };
    const spans = stdout.trimEnd().split("\n").map((l) => {
      const request = JSON.parse(l) as { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] };
      return request.resourceSpans[0]!.scopeSpans[0]!.spans[0]!;
    });
    const attr = (s: Span, k: string) => s.attributes.find((a) => a.key === k)?.value;
    for (const s of spans) {
      expect(s.name).toMatch(/^execute_tool /);
      expect(s.kind).toBe(1);
      expect(attr(s, "gen_ai.operation.name")).toEqual({ stringValue: "execute_tool" });
    }
    const denied = spans.find((s) => attr(s, "gen_ai.tool.call.id")?.stringValue === "act-000000")!;
    expect(denied.status).toEqual({ code: 2, message: "email to outside addresses needs approval" });
    expect(attr(denied, "error.type")).toEqual({ stringValue: "denied-by-rule" });
    expect(attr(denied, "gen_ai.request.model")).toEqual({ stringValue: "claude-sonnet-4" });
  });

  it("writes to --output and refuses to overwrite a file", async () => {
    const out = join(dir, "export.jsonl");
    expect((await cli("audit", "export", "--db", db, "--format", "jsonl", "--output", out)).code).toBe(0);
    expect(readFileSync(out, "utf8").trimEnd().split("\n")).toHaveLength(31);
    const again = await cli("audit", "export", "--db", db, "--format", "jsonl", "--output", out);
    expect(again).toMatchObject({ code: 1, stderr: expect.stringContaining("cannot create it (EEXIST); exports never overwrite a file") });
  });

  it.each([
    ["an unknown format", ["--format", "xml"], /Allowed choices are jsonl, csv, ocsf, otel/],
    ["a time that is not ISO 8601", ["--format", "csv", "--since", "last tuesday"], /--since `last tuesday` is not an ISO 8601 time/],
  ])("exits 2 for %s", async (_name, args, message) => {
    const { code, stderr } = await cli("audit", "export", "--db", db, ...args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });
});

describe("gatehouse audit tail", () => {
  it("shows the latest records, one readable line each", async () => {
    const { code, stdout } = await cli("audit", "tail", "--db", db, "-n", "2");
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^#29 2026-01-31T12:00:00\.029Z outcome ok support-bot\/get_order 12ms run=run-2 by=alice@example.com$/);
    expect(lines[1]).toMatch(/^#30 .* outcome error .* — =HYPERLINK/);
  });

  it("follows new records as a writer appends them", async () => {
    const file = copyDb("follow.db");
    const reader = openSqliteAuditStore(file, { readonly: true });
    const controller = new AbortController();
    const seen: number[] = [];
    const following = (async () => {
      for await (const record of tailAuditLog(reader, { lines: 1, follow: true, signal: controller.signal, intervalMs: 20 })) {
        seen.push(record.seq);
        if (seen.length === 3) controller.abort();
      }
    })();
    const writer = await openAuditLog({ path: file, signingKey: readSigningKeyFile(keyFile) });
    await writer.append(sampleEvent(40));
    await writer.append(sampleEvent(41));
    await following;
    await writer.close();
    await reader.close();
    expect(seen).toEqual([30, 31, 32]);
  });
});

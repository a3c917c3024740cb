import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import ts from "typescript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeRecord, generateSigningKey, openAuditLog, verifyAuditLog, writeKeyFiles, type NoteSigningKey } from "../src/audit/index.js";
import { openSqliteAuditStore } from "../src/store/index.js";
import { tempDir } from "./audit-helpers.js";

const ROUNDS = 20;
const root = join(import.meta.dirname, "..");
let dir: string;
let key: NoteSigningKey;
let keyFile: string;
let writer: string;

/**
 * Transpiles the writer and the sources it needs to plain JavaScript once (type-stripping only),
 * so each of the 20 restarts costs a plain `node` start instead of a TypeScript loader's.
 */
function buildWriter(out: string): string {
  const files = [join(root, "test", "fixtures", "audit-crash-writer.ts")];
  for (const folder of ["audit", "store", "core"]) {
    for (const name of readdirSync(join(root, "src", folder))) {
      if (name.endsWith(".ts") && !name.endsWith(".test.ts")) files.push(join(root, "src", folder, name));
    }
  }
  for (const file of files) {
    const js = ts.transpileModule(readFileSync(file, "utf8"), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    }).outputText;
    const target = join(out, relative(root, file)).replace(/\.ts$/, ".js");
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, js);
  }
  writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(join(root, "node_modules"), join(out, "node_modules"));
  return join(out, "test", "fixtures", "audit-crash-writer.js");
}

beforeAll(() => {
  dir = tempDir("gatehouse-crash-");
  key = generateSigningKey("crash.example/gatehouse/audit");
  keyFile = join(dir, "audit.key");
  writeKeyFiles(keyFile, key);
  writer = buildWriter(join(dir, "build"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the writer, kills it with SIGKILL `delayMs` after it is ready, returns the acks it printed. */
function runAndKill(db: string, prefix: string, delayMs: number): Promise<{ acks: string[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, db, keyFile, prefix], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const acks: string[] = [];
    let buffered = "";
    let stderr = "";
    const timeout = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        if (line === "ready") setTimeout(() => child.kill("SIGKILL"), delayMs);
        else if (line.startsWith("ack ")) acks.push(line.slice(4));
      }
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timeout);
      if (signal !== "SIGKILL") reject(new Error(`writer exited with ${String(code)} before the kill: ${stderr}`));
      else resolve({ acks, signal });
    });
  });
}

describe("crash safety", () => {
  it(`keeps every acknowledged record through ${ROUNDS} SIGKILLs of a loaded writer, and verify passes after each restart`, async () => {
    const db = join(dir, "audit.db");
    const present = new Set<string>();
    let scanned = 0;
    let totalAcks = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const delayMs = 20 + Math.floor(Math.random() * 300);
      const { acks } = await runAndKill(db, `r${round}`, delayMs);
      totalAcks += acks.length;
      // Restart: opening the log checks it against its checkpoints and signs the unsigned tail.
      const log = await openAuditLog({ path: db, signingKey: key });
      await log.close();
      const report = await verifyAuditLog({ path: db, verifierKey: key.verifier });
      expect(report.problems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.signedSize).toBe(report.size);
      const store = openSqliteAuditStore(db, { readonly: true });
      for await (const page of store.readRecords(scanned, Number.MAX_SAFE_INTEGER)) {
        for (const row of page) present.add(decodeRecord(row.record, row.seq).event.action);
        scanned += page.length;
      }
      await store.close();
      const lost = acks.filter((a) => !present.has(a));
      expect(lost).toEqual([]);
    }
    // The kills happened under load, not before the first write.
    expect(totalAcks).toBeGreaterThan(ROUNDS * 10);
  }, 120_000);
});

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createWriteStream, openSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { InvalidArgumentError, Option, type Command } from "commander";
import {
  AUDIT_FILES,
  AuditError,
  checkProof,
  defaultDataDir,
  EXPORT_FORMATS,
  exportAuditLog,
  formatRecord,
  formatVerifierKey,
  generateSigningKey,
  parseExportTime,
  proveConsistency,
  proveInclusion,
  readVerifierKeyFile,
  tailAuditLog,
  verifyAuditLog,
  writeKeyFiles,
  type ExportFormat,
  type VerifyProblem,
} from "../audit/index.js";
import { openPostgresAuditStore, openSqliteAuditStore, StoreError, type AuditStore } from "../store/index.js";
import { CliExit, type CliIO } from "./io.js";

/**
 * `gatehouse audit keygen|verify|proof|check-proof|export|tail`: thin shells over src/audit.
 * Defaults live in Gatehouse's data directory ($XDG_DATA_HOME/gatehouse or
 * ~/.local/share/gatehouse): audit.db, audit.key, audit.key.pub.
 */
export function registerAuditCommand(program: Command, io: CliIO): void {
  const audit = program
    .command("audit")
    .description("keys, verification, proofs and exports of the tamper-evident audit log");
  const dataDir = (): string => defaultDataDir();
  const dbOption = (): Option =>
    new Option("--db <path>", "the audit database: a SQLite file (default: <data dir>/audit.db) or postgres://…[?schema=NAME]");

  audit
    .command("keygen")
    .description("create the log's Ed25519 signing key (private, mode 0600) and its public .pub file; never overwrites")
    .option("--name <name>", "key name, which becomes the log's origin (default: <host>/gatehouse/audit/<random>)")
    .option("--out <file>", "where to write the private key (default: <data dir>/audit.key)")
    .action((opts: { name?: string; out?: string }) => {
      run(io, () => {
        const name = opts.name ?? `${hostname()}/gatehouse/audit/${randomBytes(4).toString("hex")}`;
        const file = opts.out ?? join(dataDir(), AUDIT_FILES.signingKey);
        const key = generateSigningKey(name);
        const pub = writeKeyFiles(file, key);
        io.out(`wrote ${file} (keep it away from agents) and ${pub}`);
        io.out(`verifier key: ${formatVerifierKey(key.verifier)}`);
      });
    });

  audit
    .command("verify")
    .description("recompute the Merkle tree and check every record and checkpoint; exit 0 when intact, 1 when not")
    .addOption(dbOption())
    .option("--checkpoint <file>", "a published checkpoint to compare with (repeatable)", collect, [])
    .option("--key <file>", "the trusted verifier key (default: <data dir>/audit.key.pub)")
    .option("--json", "print one JSON object")
    .action(async (opts: { db?: string; checkpoint: string[]; key?: string; json?: boolean }) => {
      const keyFile = opts.key ?? join(dataDir(), AUDIT_FILES.verifierKey);
      let verifierKey;
      try {
        verifierKey = readVerifierKeyFile(keyFile);
      } catch (error) {
        if (!(error instanceof AuditError)) throw error;
        report(io, opts.json, [{ code: error.code, message: `${error.message}` }]);
        throw new CliExit(1);
      }
      const checkpoints = opts.checkpoint.map((file) => ({ note: readTextFile(io, file, "--checkpoint"), source: file }));
      const db = opts.db ?? join(dataDir(), AUDIT_FILES.database);
      let result;
      if (isPostgres(db)) {
        let store: AuditStore;
        try {
          store = await openReadStore(db);
        } catch (error) {
          if (!(error instanceof StoreError)) throw error;
          report(io, opts.json, [{ code: error.code === "store-missing" ? "log-missing" : error.code === "store-corrupt" ? "store-corrupt" : "store-foreign", message: error.message }]);
          throw new CliExit(1);
        }
        try {
          result = await verifyAuditLog({ store, verifierKey, checkpoints });
        } finally {
          await store.close();
        }
      } else {
        result = await verifyAuditLog({ path: db, verifierKey, checkpoints });
      }
      if (!result.ok) {
        report(io, opts.json, result.problems);
        throw new CliExit(1);
      }
      if (opts.json) {
        // How much of the log a signature covers: records past `signedSize` are unchecked by
        // any checkpoint, and a script must be able to see that without parsing text.
        io.out(JSON.stringify({ ok: true, size: result.size, root: result.root, checkpointsVerified: result.checkpointsVerified, signedSize: Math.max(result.signedSize, 0) }));
      } else {
        const unsigned = result.size - Math.max(result.signedSize, 0);
        io.out(`ok: ${result.size} records, root ${result.root}`);
        io.out(`  ${result.checkpointsVerified} checkpoint(s) verified; signed up to ${Math.max(result.signedSize, 0)}${unsigned > 0 ? `, ${unsigned} newer record(s) not yet checkpointed` : ""}`);
      }
    });

  audit
    .command("proof")
    .description("print an inclusion proof (--index) or a consistency proof (--from/--to) as JSON")
    .addOption(dbOption())
    .option("--index <i>", "the record whose inclusion to prove", parseCount)
    .option("--size <n>", "prove inclusion in the tree of this size (default: latest checkpoint covering it)", parseCount)
    .option("--from <size1>", "the older tree size", parseCount)
    .option("--to <size2>", "the newer tree size (default: the whole log)", parseCount)
    .action(async (opts: { db?: string; index?: number; size?: number; from?: number; to?: number }) => {
      if ((opts.index === undefined) === (opts.from === undefined)) {
        io.err("gatehouse audit proof: give either --index I or --from SIZE1 [--to SIZE2]");
        throw new CliExit(2);
      }
      await withStore(io, opts.db ?? join(dataDir(), AUDIT_FILES.database), async (store) => {
        const proof =
          opts.index !== undefined ? await proveInclusion(store, opts.index, opts.size) : await proveConsistency(store, opts.from as number, opts.to);
        io.out(JSON.stringify(proof, null, 2));
      });
    });

  audit
    .command("check-proof")
    .description("verify a proof offline (RFC 9162); with --key, its roots must be signed checkpoints")
    .option("--proof <file>", "the proof file, or - for standard input", "-")
    .option("--key <file>", "a trusted verifier key; without it only the hashes are checked")
    .option("--checkpoint <file>", "a signed checkpoint vouching for a root (repeatable)", collect, [])
    .option("--json", "print one JSON object")
    .action(async (opts: { proof: string; key?: string; checkpoint: string[]; json?: boolean }) => {
      await runAsync(io, async () => {
        const text = opts.proof === "-" ? readFileSync(0, "utf8") : readTextFile(io, opts.proof, "--proof");
        let input: unknown;
        try {
          input = JSON.parse(text);
        } catch {
          throw new AuditError("audit-proof-invalid", `${opts.proof}: the proof is not JSON; give the output of \`gatehouse audit proof\``);
        }
        const checkpoints = opts.checkpoint.map((file) => readTextFile(io, file, "--checkpoint"));
        const result = await checkProof(input, { ...(opts.key ? { verifierKey: readVerifierKeyFile(opts.key) } : {}), checkpoints });
        if (opts.json) io.out(JSON.stringify(result));
        else if (result.ok) io.out(`ok: ${result.message}`);
        else io.err(`failed: ${result.message}`);
        if (!result.ok) throw new CliExit(1);
      });
    });

  audit
    .command("export")
    .description("stream the log as JSONL, CSV, OCSF API Activity events or OpenTelemetry execute_tool spans")
    .addOption(new Option("--format <format>", "output format").choices([...EXPORT_FORMATS]).makeOptionMandatory())
    .addOption(dbOption())
    .option("--since <time>", "only events at or after this ISO 8601 time")
    .option("--until <time>", "only events before this ISO 8601 time")
    .option("--agent <name>", "only this agent's events")
    .option("--output <file>", "write to this file instead of standard output")
    .action(async (opts: { format: ExportFormat; db?: string; since?: string; until?: string; agent?: string; output?: string }) => {
      let filter;
      try {
        filter = {
          ...(opts.since ? { since: parseExportTime(opts.since, "--since") } : {}),
          ...(opts.until ? { until: parseExportTime(opts.until, "--until") } : {}),
          ...(opts.agent ? { agent: opts.agent } : {}),
        };
      } catch (error) {
        io.err(`gatehouse audit export: ${(error as Error).message}`);
        throw new CliExit(2);
      }
      await withStore(io, opts.db ?? join(dataDir(), AUDIT_FILES.database), async (store) => {
        const lines = exportAuditLog(store, opts.format, filter);
        if (!opts.output) {
          for await (const line of lines) io.out(line);
          return;
        }
        let fd: number;
        try {
          fd = openSync(opts.output, "wx", 0o600);
        } catch (error) {
          io.err(`gatehouse audit export: --output ${opts.output}: cannot create it (${(error as NodeJS.ErrnoException).code ?? String(error)}); exports never overwrite a file`);
          throw new CliExit(1);
        }
        const out = createWriteStream("", { fd });
        const closed = once(out, "close");
        try {
          for await (const line of lines) if (!out.write(line)) await once(out, "drain");
        } finally {
          out.end();
          await closed;
        }
      });
    });

  audit
    .command("tail")
    .description("show the latest records, readable; --follow keeps showing new ones until interrupted")
    .addOption(dbOption())
    .option("-n, --lines <n>", "how many of the latest records to show first", parseCount, 10)
    .option("-f, --follow", "keep showing records as they arrive")
    .action(async (opts: { db?: string; lines: number; follow?: boolean }) => {
      await withStore(io, opts.db ?? join(dataDir(), AUDIT_FILES.database), async (store) => {
        const controller = new AbortController();
        const stop = (): void => controller.abort();
        process.once("SIGINT", stop);
        try {
          for await (const record of tailAuditLog(store, { lines: opts.lines, follow: opts.follow ?? false, signal: controller.signal })) {
            io.out(formatRecord(record));
          }
        } finally {
          process.removeListener("SIGINT", stop);
        }
      });
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function parseCount(value: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError("must be a whole number (0, 1, 2, …)");
  }
  return Number(value);
}

function readTextFile(io: CliIO, file: string, flag: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    io.err(`gatehouse audit: ${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    throw new CliExit(2);
  }
}

function report(io: CliIO, json: boolean | undefined, problems: readonly (VerifyProblem | { code: string; message: string })[]): void {
  if (json) {
    io.out(JSON.stringify({ ok: false, problems }));
    return;
  }
  io.err(`FAILED: ${problems.length} problem(s)`);
  for (const p of problems) io.err(`  ${p.code}: ${p.message}`);
}

async function runAsync(io: CliIO, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    fail(io, error);
  }
}

function run(io: CliIO, work: () => void): void {
  try {
    work();
  } catch (error) {
    fail(io, error);
  }
}

function isPostgres(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** Opens a log read-only: a SQLite file, or PostgreSQL when `db` is a postgres:// URL (`?schema=` picks the schema). */
async function openReadStore(db: string): Promise<AuditStore> {
  if (!isPostgres(db)) return openSqliteAuditStore(db, { readonly: true });
  const url = new URL(db);
  const schema = url.searchParams.get("schema") ?? undefined;
  url.searchParams.delete("schema");
  return openPostgresAuditStore({ connectionString: url.href, readonly: true, ...(schema ? { schema } : {}) });
}

async function withStore(io: CliIO, path: string, work: (store: AuditStore) => Promise<void>): Promise<void> {
  let store: AuditStore;
  try {
    store = await openReadStore(path);
  } catch (error) {
    fail(io, error);
  }
  try {
    await work(store);
  } catch (error) {
    fail(io, error);
  } finally {
    await store.close();
  }
}

function fail(io: CliIO, error: unknown): never {
  if (error instanceof CliExit) throw error;
  if (error instanceof AuditError || error instanceof StoreError) {
    io.err(`gatehouse audit: ${error.message} [${error.code}]`);
    throw new CliExit(1);
  }
  throw error;
}

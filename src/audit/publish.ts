import { mkdirSync, openSync, closeSync, fsyncSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { AuditError } from "./errors.js";

/**
 * Somewhere outside the audit database that keeps the latest checkpoint, so that a rewrite of
 * the whole database (records and stored checkpoints alike) is still caught: the published
 * checkpoint no longer matches.
 */
export interface CheckpointPublisher {
  /** Where it publishes, for messages (`file:/mnt/witness/checkpoint`, `https://…`). */
  readonly target: string;
  /** Publishes a signed checkpoint note. Rejects with `audit-publish-failed`. */
  publish(note: string): Promise<void>;
  /**
   * The latest published note, when the target can be read back; the log checks itself
   * against it when it opens and refuses to extend a log that no longer matches.
   */
  latest?(): Promise<string | undefined>;
}

/**
 * Publishes each checkpoint to a file (best on another volume or host mount the agent cannot
 * write): written to a temporary file, fsynced, then renamed over the old one, so a reader
 * sees either the old or the new checkpoint, never half of one.
 *
 * @example
 * const publish = [fileCheckpointPublisher("/mnt/audit-witness/checkpoint")];
 */
export function fileCheckpointPublisher(file: string): CheckpointPublisher {
  return {
    target: `file:${file}`,
    publish(note) {
      try {
        // Another process writing the same log may already have published a larger checkpoint
        // of it: keep that one rather than go back (both verify; the larger covers more).
        if (publishedSize(file, note) > noteSize(note)) return Promise.resolve();
        mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
        const temp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
        writeFileSync(temp, note, { mode: 0o644 });
        const fd = openSync(temp, "r");
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(temp, file);
        const dir = openSync(dirname(file), "r");
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
        return Promise.resolve();
      } catch (error) {
        return Promise.reject(
          new AuditError("audit-publish-failed", `cannot publish the checkpoint to ${file}: ${(error as Error).message}`, { cause: error }),
        );
      }
    },
    latest() {
      try {
        return Promise.resolve(readFileSync(file, "utf8"));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return Promise.resolve(undefined);
        return Promise.reject(
          new AuditError("audit-publish-failed", `cannot read the published checkpoint ${file}: ${(error as Error).message}`, { cause: error }),
        );
      }
    },
  };
}

/** The tree size on a checkpoint note's second line (after its origin), or -1. */
function noteSize(note: string): number {
  const size = note.split("\n", 2)[1];
  return size !== undefined && /^[0-9]{1,15}$/.test(size) ? Number(size) : -1;
}

/** The size of the checkpoint already in `file` when it is one of the same log (same origin line), or -1. */
function publishedSize(file: string, note: string): number {
  let current: string;
  try {
    current = readFileSync(file, "utf8");
  } catch {
    return -1;
  }
  return current.split("\n", 1)[0] === note.split("\n", 1)[0] ? noteSize(current) : -1;
}

/** Options for {@link httpCheckpointPublisher}. */
export interface HttpPublisherOptions {
  /** Extra request headers (e.g. an Authorization header for the receiving service). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Give up after this long; default 5000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Publishes each checkpoint by HTTP POST (body: the signed note, `text/plain; charset=utf-8`);
 * any 2xx answer counts as published. Suits a witness service or a log collector.
 *
 * @example
 * const publish = [httpCheckpointPublisher("https://witness.example.com/gatehouse/checkpoint")];
 */
export function httpCheckpointPublisher(url: string, options: HttpPublisherOptions = {}): CheckpointPublisher {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AuditError("audit-option-invalid", `checkpoint publish URL \`${url}\` is not a URL`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new AuditError("audit-option-invalid", `checkpoint publish URL \`${url}\` must use http or https`);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  return {
    target: parsed.href,
    async publish(note) {
      let response: Response;
      try {
        response = await fetch(parsed, {
          method: "POST",
          headers: { "content-type": "text/plain; charset=utf-8", ...options.headers },
          body: note,
          signal: AbortSignal.timeout(timeoutMs),
          redirect: "error",
        });
      } catch (error) {
        throw new AuditError("audit-publish-failed", `cannot publish the checkpoint to ${parsed.href}: ${(error as Error).message}`, { cause: error });
      }
      await response.body?.cancel();
      if (!response.ok) {
        throw new AuditError("audit-publish-failed", `${parsed.href} answered ${response.status} to the checkpoint; expected 2xx`);
      }
    },
  };
}

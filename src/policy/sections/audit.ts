import { z } from "zod";

/**
 * The `audit` section of gatehouse.yaml (to be mounted by the policy schema under `audit`).
 * Paths are resolved by the caller; unset paths fall back to the data directory.
 */
export const auditConfigSchema = z
  .strictObject({
    path: z.string().min(1).optional().describe("the audit database file; default <data dir>/audit.db, outside the agent's workspace"),
    key: z.string().min(1).optional().describe("the signing key file (from `gatehouse audit keygen`); default <data dir>/audit.key"),
    checkpoint: z
      .strictObject({
        everyRecords: z.int().min(1).optional().describe("sign a checkpoint after this many new records (default 10000)"),
        everySeconds: z.int().min(1).optional().describe("sign a checkpoint at least this often while records arrive (default 60)"),
      })
      .optional()
      .describe("when checkpoints are signed; one is always signed on shutdown"),
    publish: z
      .array(
        z.union([
          z.strictObject({ file: z.string().min(1).describe("a file on another volume that receives each checkpoint") }),
          z.strictObject({
            url: z.url({ protocol: /^https?$/ }).describe("an HTTP endpoint that receives each checkpoint by POST"),
            headers: z.record(z.string(), z.string()).optional().describe("extra request headers, e.g. authorization"),
          }),
        ]),
      )
      .optional()
      .describe("second places each checkpoint is published to, so a rewritten database is caught"),
    maxResultBytes: z.int().min(0).optional().describe("results larger than this are stored truncated with their SHA-256 (default 65536)"),
    maxBytes: z.int().min(1).optional().describe("refuse to grow the database past this size; appends then fail and the gate denies"),
  })
  .describe("the tamper-evident audit log");

export type AuditConfig = z.infer<typeof auditConfigSchema>;

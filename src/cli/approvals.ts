import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { InvalidArgumentError, Option, type Command } from "commander";
import { parseDuration, tokenDigest, type ApprovalRequest, type ApprovalStatus, type Grant, type GrantInput } from "../approvals/index.js";
import { createControlClient, ServerError, type ControlClient } from "../server/index.js";
import { CliExit, type CliIO } from "./io.js";

const STATUSES = ["pending", "approved", "denied", "expired", "used"] as const;

interface ConnectionFlags {
  url?: string;
  token?: string;
  tokenFile?: string;
  json?: boolean;
}

/**
 * `gatehouse approvals list|show|approve|deny|grants|revoke|token`. Talks to a running
 * `gatehouse serve` over its JSON API (--url, default $GATEHOUSE_URL or http://127.0.0.1:8470),
 * as the approver whose token it sends ($GATEHOUSE_TOKEN, --token-file or --token): the server,
 * not this command, decides who is answering.
 */
export function registerApprovalsCommand(program: Command, io: CliIO): void {
  const approvals = program
    .command("approvals")
    .description("list, inspect and answer approval requests; list and revoke grants (through `gatehouse serve`)");

  const connection = (cmd: Command): Command =>
    cmd
      .addOption(new Option("--url <url>", "the control-plane server").env("GATEHOUSE_URL").default("http://127.0.0.1:8470"))
      .addOption(new Option("--token <token>", "your API token (prefer $GATEHOUSE_TOKEN: flags show in `ps`)").env("GATEHOUSE_TOKEN"))
      .option("--token-file <file>", "read your API token from this file")
      .option("--json", "print JSON");

  connection(approvals.command("list").description("list requests, newest first"))
    .addOption(new Option("--status <status>", "only requests with this status").choices(STATUSES))
    .action(async (opts: ConnectionFlags & { status?: ApprovalStatus }) => {
      await withClient(io, opts, async (client) => {
        const requests = await client.list(opts.status);
        if (opts.json) return io.out(JSON.stringify(requests, null, 2));
        if (requests.length === 0) return io.out("no requests");
        for (const r of requests) io.out(summary(r));
      });
    });

  connection(approvals.command("show").description("show one request: who, what, why, the arguments and the dry-run preview").argument("<id>"))
    .action(async (id: string, opts: ConnectionFlags) => {
      await withClient(io, opts, async (client) => {
        const r = await client.get(id);
        io.out(opts.json ? JSON.stringify(r, null, 2) : details(r));
      });
    });

  connection(approvals.command("approve").description("approve a request (optionally with a scoped, expiring grant)").argument("<id>"))
    .option("--reason <text>", "why (recorded in the audit log)")
    .option("--grant <ttl>", "also allow calls like this one for this long, e.g. `1h` (without --grant-args: the exact same arguments)", ttl)
    .option("--grant-uses <n>", "the grant's maximum number of uses", positiveInt)
    .option("--grant-args <json>", "a JSON argument schema later calls must match", jsonObject)
    .action(async (id: string, opts: ConnectionFlags & { reason?: string; grant?: number; grantUses?: number; grantArgs?: unknown }) => {
      if (opts.grant === undefined && (opts.grantUses !== undefined || opts.grantArgs !== undefined)) {
        io.err("gatehouse approvals approve: --grant-uses and --grant-args need --grant <ttl>");
        throw new CliExit(2);
      }
      const grant: GrantInput | undefined =
        opts.grant === undefined
          ? undefined
          : { ttlMs: opts.grant, ...(opts.grantUses === undefined ? {} : { maxUses: opts.grantUses }), ...(opts.grantArgs === undefined ? {} : { args: opts.grantArgs }) };
      await withClient(io, opts, async (client) => {
        const r = await client.answer(id, { verdict: "approve", ...(opts.reason ? { reason: opts.reason } : {}), ...(grant ? { grant } : {}) });
        io.out(opts.json ? JSON.stringify(r, null, 2) : `approved ${r.id}: now ${r.status} (${r.approvals} of ${r.required} approvals)${grant ? "; grant created" : ""}`);
      });
    });

  connection(approvals.command("deny").description("deny a request").argument("<id>"))
    .option("--reason <text>", "why (shown to the agent and recorded)")
    .action(async (id: string, opts: ConnectionFlags & { reason?: string }) => {
      await withClient(io, opts, async (client) => {
        const r = await client.answer(id, { verdict: "deny", ...(opts.reason ? { reason: opts.reason } : {}) });
        io.out(opts.json ? JSON.stringify(r, null, 2) : `denied ${r.id}`);
      });
    });

  connection(approvals.command("grants").description("list grants"))
    .option("--active", "only grants that can still be used")
    .action(async (opts: ConnectionFlags & { active?: boolean }) => {
      await withClient(io, opts, async (client) => {
        const grants = await client.grants(opts.active);
        if (opts.json) return io.out(JSON.stringify(grants, null, 2));
        if (grants.length === 0) return io.out("no grants");
        for (const g of grants) io.out(grantLine(g));
      });
    });

  connection(approvals.command("revoke").description("revoke a grant (its creator or an admin)").argument("<grant-id>"))
    .action(async (id: string, opts: ConnectionFlags) => {
      await withClient(io, opts, async (client) => {
        const g = await client.revoke(id);
        io.out(opts.json ? JSON.stringify(g, null, 2) : `revoked ${g.id}`);
      });
    });

  approvals
    .command("token")
    .description("make a new random API token and print the SHA-256 to put in the policy's `approvers.<name>.tokenSha256`")
    .action(() => {
      const token = randomBytes(32).toString("base64url");
      io.out(`token:       ${token}   (give it to the approver; store it nowhere else)`);
      io.out(`tokenSha256: ${tokenDigest(token)}`);
    });
}

async function withClient(io: CliIO, opts: ConnectionFlags, work: (client: ControlClient) => Promise<void>): Promise<void> {
  let token = opts.token;
  if (opts.tokenFile !== undefined) {
    try {
      token = readFileSync(opts.tokenFile, "utf8").trim();
    } catch (error) {
      io.err(`gatehouse approvals: --token-file ${opts.tokenFile}: ${(error as Error).message}`);
      throw new CliExit(2);
    }
  }
  if (!token) {
    io.err("gatehouse approvals: no API token; set $GATEHOUSE_TOKEN or pass --token-file (make one with `gatehouse approvals token`)");
    throw new CliExit(2);
  }
  try {
    await work(createControlClient({ url: opts.url ?? "http://127.0.0.1:8470", token }));
  } catch (error) {
    if (error instanceof ServerError) {
      io.err(`gatehouse approvals: ${error.code}: ${error.message}`);
      throw new CliExit(1);
    }
    throw error;
  }
}

function summary(r: ApprovalRequest): string {
  return `${r.id}  ${r.status.padEnd(8)}  ${r.agent}  ${r.tool}  ${r.approvals}/${r.required}  expires ${r.expiresAt}`;
}

function details(r: ApprovalRequest): string {
  const lines = [
    `request     ${r.id}`,
    `status      ${r.status} (${r.approvals} of ${r.required} approvals)`,
    `agent       ${r.agent}${r.environment ? ` (${r.environment})` : ""}`,
    ...(r.run ? [`run         ${r.run}`] : []),
    ...(r.principal ? [`principal   ${r.principal}`] : []),
    ...(r.request ? [`user asked  ${r.request}`] : []),
    `tool        ${r.tool}${r.risk ? ` (${r.risk})` : ""}`,
    `rule        ${r.rules.join(", ") || "default"}`,
    `why         ${r.reasons.join("; ")}`,
    `created     ${r.createdAt}`,
    `expires     ${r.expiresAt}`,
    ...r.answers.map((a) => `answer      ${a.approver} ${a.verdict} at ${a.at}${a.reason ? `: ${a.reason}` : ""}`),
    "arguments",
    JSON.stringify(r.args, null, 2),
  ];
  if (r.preview !== undefined) lines.push("dry-run preview", JSON.stringify(r.preview, null, 2));
  return lines.join("\n");
}

function grantLine(g: Grant): string {
  const state = g.revokedAt ? `revoked by ${g.revokedBy ?? "?"}` : g.active ? "active" : "spent or expired";
  return `${g.id}  ${state}  ${g.agent}  ${g.tool}  uses ${g.uses}${g.maxUses === undefined ? "" : `/${g.maxUses}`}  by ${g.createdBy}  expires ${g.expiresAt}`;
}

function ttl(value: string): number {
  try {
    return parseDuration(value);
  } catch {
    throw new InvalidArgumentError("give a duration such as `30m`, `1h` or `1d`");
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("give a whole number of at least 1");
  return n;
}

function jsonObject(value: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new InvalidArgumentError("give a JSON object, e.g. '{\"type\":\"object\",\"properties\":{\"amount\":{\"maximum\":50}}}'");
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError("give a JSON object");
  return parsed;
}

import { randomUUID } from "node:crypto";
import { z } from "zod";
import type { Action, AuditApproval, AuditSink, Check, Decision } from "../core/index.js";
import { actionDigest, denyDecision, proceed, stop } from "../core/index.js";
import { StoreError, type ApprovalStore, type StoredApprovalRequest, type StoredGrant } from "../store/index.js";
import type { ApproverDirectory } from "./directory.js";
import { ApprovalError } from "./errors.js";
import { compileGrantArgs } from "./grants.js";
import { toApprovalRequest, toGrant, type ApprovalRequest, type ApprovalStatus, type Grant, type Notifier } from "./types.js";

/** Default time a request can be answered and an approval used. */
export const DEFAULT_APPROVAL_TTL_MS = 15 * 60_000;
/** Default longest grant. */
export const DEFAULT_MAX_GRANT_TTL_MS = 24 * 3_600_000;

/** Dependencies and settings of {@link createApprovals}. */
export interface ApprovalsOptions {
  readonly store: ApprovalStore;
  /** Every request, answer, grant and revocation is recorded here. */
  readonly audit: AuditSink;
  readonly approvers: ApproverDirectory;
  readonly ttlMs?: number;
  readonly maxGrantTtlMs?: number;
  readonly clock?: () => Date;
  readonly notifiers?: readonly Notifier[];
  /** Called when a notifier fails; the request stands and shows in the inbox and CLI. */
  readonly onNotifyError?: (error: ApprovalError) => void;
  /** Builds the dry-run preview shown to the approver, when the tool has one. */
  readonly preview?: (action: Action, decision: Decision) => unknown;
  readonly newId?: () => string;
  /** How often `wait` re-reads the store (answers may arrive through another process). Default 250 ms. */
  readonly pollMs?: number;
}

/** A grant an approver attaches to an approving answer. */
export interface GrantInput {
  /** How long the grant lasts, at most the configured maximum. */
  readonly ttlMs: number;
  readonly maxUses?: number;
  /** Argument schema later calls must match; omitted: exactly the approved arguments. */
  readonly args?: unknown;
}

/** One approver's answer. */
export interface AnswerInput {
  readonly approver: string;
  readonly verdict: "approve" | "deny";
  readonly reason?: string;
  readonly grant?: GrantInput;
}

/** The approvals module's face (docs/approvals.md). */
export interface Approvals {
  /** The gate check; put it last in the chain. */
  readonly check: Check;
  get(id: string): Promise<ApprovalRequest | undefined>;
  list(filter?: { readonly status?: ApprovalStatus }): Promise<ApprovalRequest[]>;
  /** Records an answer. Throws ApprovalError; nothing is recorded when it throws before the store commits. */
  answer(id: string, answer: AnswerInput): Promise<ApprovalRequest>;
  /** Resolves when the request is no longer pending, or with the still-pending request at the timeout. */
  wait(id: string, options: { readonly timeoutMs: number; readonly signal?: AbortSignal }): Promise<ApprovalRequest>;
  readonly grants: {
    list(filter?: { readonly active?: boolean }): Promise<Grant[]>;
    revoke(id: string, by: string): Promise<Grant>;
  };
}

const AnswerSchema = z.strictObject({
  approver: z.string().min(1).max(128),
  verdict: z.enum(["approve", "deny"]),
  reason: z.string().max(1000).optional(),
  grant: z
    .strictObject({
      ttlMs: z.int().positive(),
      maxUses: z.int().min(1).max(1_000_000).optional(),
      args: z.unknown().optional(),
    })
    .optional(),
});

const MAX_ID = 200;

/**
 * Creates the approvals module: the gate check that turns a provisional `ask` into a durable
 * request, and the operations people use to answer it.
 *
 * What the check does with a provisional `ask`, in this order (anything else passes through):
 * 1. an approved, unexpired, unused request for the exact action digest → used (atomically,
 *    once) → `allow` (`allowed-by-approval`);
 * 2. an active grant for the tool and agent whose argument schema matches and that was approved
 *    by at least as many approvers as this ask needs → one use taken → `allow` (`allowed-by-grant`);
 * 3. a denied or expired request not yet shown to the agent → shown once → `deny`
 *    (`denied-by-approver`, `approval-expired`); the next identical call opens a fresh request;
 * 4. otherwise the pending request for the digest (opened now if there is none) → `ask` with
 *    `decision.approval`.
 * Any error (store unreachable, audit refused) → `deny` (`approval-error`).
 *
 * @example
 * const approvals = createApprovals({ store, audit, approvers: createApproverDirectory(policy.file.approvers ?? {}) });
 * const gate = createGate({ policy, audit, checks: [approvals.check] });
 */
export function createApprovals(options: ApprovalsOptions): Approvals {
  const { store, audit, approvers } = options;
  const clock = options.clock ?? (() => new Date());
  const ttlMs = options.ttlMs ?? DEFAULT_APPROVAL_TTL_MS;
  const maxGrantTtlMs = options.maxGrantTtlMs ?? DEFAULT_MAX_GRANT_TTL_MS;
  const newId = options.newId ?? randomUUID;
  const pollMs = options.pollMs ?? 250;
  const notifiers = options.notifiers ?? [];
  const waiters = new Map<string, Set<() => void>>();
  // Compiled grant scopes by grant id (a grant's scope never changes); bounded so it cannot grow without end.
  const matchers = new Map<string, (args: unknown) => boolean>();
  const matcherFor = (grant: StoredGrant): ((args: unknown) => boolean) => {
    let matcher = matchers.get(grant.id);
    if (!matcher) {
      try {
        matcher = compileGrantArgs(grant.args);
      } catch {
        matcher = () => false; // a stored scope that no longer compiles covers nothing
      }
      if (matchers.size >= 1000) matchers.clear();
      matchers.set(grant.id, matcher);
    }
    return matcher;
  };
  for (const [name, value] of [["ttlMs", ttlMs], ["maxGrantTtlMs", maxGrantTtlMs], ["pollMs", pollMs]] as const) {
    if (!Number.isSafeInteger(value) || value <= 0) throw new ApprovalError("config-invalid", `approvals option \`${name}\` must be a positive integer`);
  }

  const now = () => clock().getTime();
  const iso = () => clock().toISOString();

  async function record(step: AuditApproval, request: Pick<StoredApprovalRequest, "tool" | "agent" | "run" | "principal" | "environment" | "policyDigest">, id: string, extra: { args?: unknown } = {}) {
    await audit.append({
      type: "approval",
      time: iso(),
      action: id,
      tool: request.tool,
      agent: request.agent,
      ...(request.run === undefined ? {} : { run: request.run }),
      ...(request.principal === undefined ? {} : { principal: request.principal }),
      ...(request.environment === undefined ? {} : { environment: request.environment }),
      ...(extra.args === undefined ? {} : { args: extra.args }),
      policyDigest: request.policyDigest,
      approval: step,
    });
  }

  function wake(id: string): void {
    for (const resolve of waiters.get(id) ?? []) resolve();
  }

  async function notifyAll(request: ApprovalRequest): Promise<void> {
    await Promise.all(
      notifiers.map(async (notifier) => {
        try {
          await notifier.notify(request);
        } catch (error) {
          const wrapped =
            error instanceof ApprovalError
              ? error
              : new ApprovalError("notify-failed", `notifier \`${notifier.name}\` failed for request ${request.id}: ${message(error)}`, { cause: error });
          options.onNotifyError?.(wrapped);
        }
      }),
    );
  }

  async function decideAsk(action: Action, asked: Decision): Promise<Decision> {
    const agent = asked.agent;
    const policyDigest = asked.policyDigest;
    if (agent === undefined || policyDigest === undefined) {
      return denyDecision("approval-error", "the approval check got an ask without agent or policy digest; refusing", { policyDigest: policyDigest ?? "" });
    }
    const args = asked.args ?? action.args;
    const required = asked.approvers ?? 1;
    const bound = { agent, tool: action.tool, args, policyDigest, environment: asked.environment, principal: action.principal, approvers: required };
    const digest = actionDigest(bound);
    const nowMs = now();
    const latest = await store.latestForDigest(digest);

    if (latest && latest.status === "approved" && latest.expiresMs > nowMs && (await store.consume(latest.id, nowMs))) {
      const approvedBy = latest.answers.filter((a) => a.verdict === "approve").map((a) => a.approver);
      return {
        ...asked,
        verdict: "allow",
        code: "allowed-by-approval",
        reasons: [`approved by ${approvedBy.join(", ")} (request ${latest.id})`],
        approval: { id: latest.id, expiresAt: new Date(latest.expiresMs).toISOString() },
      };
    }

    const grant = await findGrant(bound, digest, nowMs, latest);
    if (grant) {
      return {
        ...asked,
        verdict: "allow",
        code: "allowed-by-grant",
        reasons: [`allowed by grant ${grant.id} from ${grant.createdBy} (use ${grant.uses + 1}${grant.maxUses === undefined ? "" : ` of ${grant.maxUses}`})`],
        approval: { id: grant.id, expiresAt: new Date(grant.expiresMs).toISOString() },
      };
    }

    if (latest && !latest.reported) {
      const denied = latest.status === "denied";
      const expired = latest.status === "expired" || ((latest.status === "pending" || latest.status === "approved") && latest.expiresMs <= nowMs);
      if ((denied || expired) && (await store.closeReported(latest.id, nowMs))) {
        const by = latest.answers.filter((a) => a.verdict === "deny").map((a) => `${a.approver}${a.reason ? `: ${a.reason}` : ""}`);
        return {
          ...asked,
          verdict: "deny",
          code: denied ? "denied-by-approver" : "approval-expired",
          reasons: [
            denied
              ? `request ${latest.id} was denied (${by.join("; ")}); do not retry without a change`
              : `request ${latest.id} expired unanswered at ${new Date(latest.expiresMs).toISOString()}; the call was not run`,
          ],
          approval: { id: latest.id, expiresAt: new Date(latest.expiresMs).toISOString() },
        };
      }
    }

    let preview: unknown;
    try {
      preview = options.preview ? await options.preview(action, asked) : undefined;
    } catch (error) {
      // The approver should see that the preview failed (often: the call itself would fail); the call still waits for them.
      preview = { error: `the dry-run preview failed: ${message(error)}` };
    }
    const opened = await store.openRequest({
      id: newId(),
      digest,
      agent,
      ...(action.principal === undefined ? {} : { principal: action.principal }),
      ...(action.run === undefined ? {} : { run: action.run }),
      ...(action.request === undefined ? {} : { request: action.request }),
      ...(asked.environment === undefined ? {} : { environment: asked.environment }),
      tool: action.tool,
      args,
      ...(asked.risk === undefined ? {} : { risk: asked.risk }),
      rules: asked.rules,
      reasons: asked.reasons,
      required,
      policyDigest,
      ...(preview === undefined ? {} : { preview }),
      createdMs: nowMs,
      expiresMs: nowMs + ttlMs,
    });
    const request = opened.request;
    if (opened.created) {
      await record({ step: "requested", id: request.id }, request, request.id, { args });
      await notifyAll(toApprovalRequest(request, nowMs));
    }
    const have = request.answers.filter((a) => a.verdict === "approve").length;
    return {
      ...asked,
      reasons: [...asked.reasons, `approval request ${request.id} awaits ${request.required - have} more approver(s)`],
      approval: { id: request.id, expiresAt: new Date(request.expiresMs).toISOString() },
    };
  }

  async function findGrant(
    bound: { agent: string; tool: string; args: unknown; policyDigest: string; environment?: string | undefined; principal?: string | undefined; approvers: number },
    digest: string,
    nowMs: number,
    latest: StoredApprovalRequest | undefined,
  ): Promise<StoredGrant | undefined> {
    const { tool, agent, policyDigest, args, approvers: required } = bound;
    const grants = await store.activeGrants({ tool, agent, policyDigest, nowMs });
    for (const grant of grants) {
      if (grant.approvals < required) continue; // a grant never lowers the number of approvers a rule asks for
      // A grant never covers its own creator's calls: that would be approving oneself.
      if (bound.principal !== undefined && bound.principal === grant.createdBy) continue;
      const source = latest?.id === grant.requestId ? latest : await store.get(grant.requestId);
      if (!source) continue;
      // A grant given for one environment (staging) never covers another (production).
      if ((source.environment ?? "") !== (bound.environment ?? "")) continue;
      const matches = grant.args === undefined ? source.digest === digest : matcherFor(grant)(args);
      if (matches && (await store.useGrant(grant.id, nowMs))) return grant;
    }
    return undefined;
  }

  const check: Check = async function checkApprovals(action, context) {
    const asked = context.decision;
    if (asked?.verdict !== "ask") return proceed(asked);
    try {
      return stop(await decideAsk(action, asked));
    } catch (error) {
      return stop(
        denyDecision("approval-error", `the approvals store could not decide this call, so it is refused: ${message(error)}`, {
          ...(asked.policyDigest === undefined ? {} : { policyDigest: asked.policyDigest }),
          ...(asked.agent === undefined ? {} : { agent: asked.agent }),
          ...(asked.risk === undefined ? {} : { risk: asked.risk }),
          rules: asked.rules,
        }),
      );
    }
  };

  async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof ApprovalError) throw error;
      throw new ApprovalError("store-unavailable", `the approvals store failed; nothing was recorded: ${message(error)}`, { cause: error });
    }
  }

  function validId(id: unknown): id is string {
    return typeof id === "string" && id.length > 0 && id.length <= MAX_ID;
  }

  async function answer(id: string, input: AnswerInput): Promise<ApprovalRequest> {
    const parsed = AnswerSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApprovalError("answer-invalid", `${issue?.path.join(".") || "answer"}: ${issue?.message ?? "invalid"}`);
    }
    const a = parsed.data;
    if (!validId(id)) throw new ApprovalError("request-unknown", "no approval request has this id");
    const approver = approvers.get(a.approver);
    if (!approver) throw new ApprovalError("approver-unknown", `\`${a.approver}\` is not an approver in the policy's \`approvers:\` section`);
    if (!approver.roles.includes("approver") && !approver.roles.includes("admin")) {
      throw new ApprovalError("approver-not-allowed", `\`${a.approver}\` has no role that may answer requests`);
    }
    const current = await storeCall(() => store.get(id));
    if (!current) throw new ApprovalError("request-unknown", `no approval request \`${id}\`; list them with \`gatehouse approvals list\``);
    const self = [current.agent, current.principal].filter((x): x is string => x !== undefined).map((x) => x.toLowerCase());
    if (self.includes(a.approver.toLowerCase())) {
      throw new ApprovalError("self-approval", `\`${a.approver}\` made this request (as its agent or principal) and cannot answer it; ask another approver`);
    }
    const nowMs = now();
    let grant: { id: string; expiresMs: number; maxUses?: number; args?: unknown } | undefined;
    if (a.grant) {
      if (a.verdict !== "approve") throw new ApprovalError("grant-invalid", "a grant goes only with an `approve` answer");
      if (a.grant.ttlMs > maxGrantTtlMs) {
        throw new ApprovalError("grant-invalid", `grant.ttlMs ${a.grant.ttlMs} is longer than the allowed ${maxGrantTtlMs} ms; give a shorter grant`);
      }
      if (a.grant.args !== undefined) compileGrantArgs(a.grant.args);
      grant = {
        id: newId(),
        expiresMs: nowMs + a.grant.ttlMs,
        ...(a.grant.maxUses === undefined ? {} : { maxUses: a.grant.maxUses }),
        ...(a.grant.args === undefined ? {} : { args: a.grant.args }),
      };
    }
    // The answer is written to the audit log before the store: no stored answer is ever missing from
    // the log. If the store then refuses it, an `answer-refused` step follows (best effort).
    const said = { step: "answered" as const, id, by: a.approver, verdict: a.verdict, ...(a.reason === undefined ? {} : { reason: a.reason }) };
    try {
      await record(said, current, id);
    } catch (error) {
      throw new ApprovalError("audit-unavailable", `the audit log cannot record this answer, so it was not recorded: ${message(error)}; fix the audit log and answer again`, {
        cause: error,
      });
    }
    const refuse = async (error: ApprovalError): Promise<never> => {
      await record({ step: "answer-refused", id, by: a.approver, reason: error.code }, current, id).catch(() => undefined);
      throw error;
    };
    let result;
    try {
      result = await storeCall(() =>
        store.answer({ id, approver: a.approver, verdict: a.verdict, ...(a.reason === undefined ? {} : { reason: a.reason }), atMs: nowMs, ...(grant ? { grant } : {}) }),
      );
    } catch (error) {
      return refuse(error as ApprovalError);
    }
    switch (result.kind) {
      case "not-found":
        return refuse(new ApprovalError("request-unknown", `no approval request \`${id}\``));
      case "expired":
        return refuse(new ApprovalError("request-expired", `request \`${id}\` expired at ${new Date(result.request.expiresMs).toISOString()}; the agent must ask again`));
      case "not-pending":
        return refuse(new ApprovalError("request-closed", `request \`${id}\` is already ${toApprovalRequest(result.request, nowMs).status}; nothing changed`));
      case "already-answered":
        return refuse(new ApprovalError("already-answered", `\`${a.approver}\` has already answered request \`${id}\`; each approver answers once`));
      case "ok":
        break;
      default:
        return refuse(new ApprovalError("store-unavailable", "the approvals store gave an unknown answer"));
    }
    const updated = result.request;
    try {
      if (updated.status === "approved" || updated.status === "denied") await record({ step: updated.status, id }, updated, id);
      if (result.grant) {
        const g = result.grant;
        await record(
          {
            step: "granted",
            id: g.id,
            by: a.approver,
            grant: { requestId: id, expiresAt: new Date(g.expiresMs).toISOString(), ...(g.maxUses === undefined ? {} : { maxUses: g.maxUses }), ...(g.args === undefined ? {} : { args: g.args }) },
          },
          updated,
          g.id,
        );
      }
    } catch (error) {
      throw new ApprovalError("audit-unavailable", `the answer to \`${id}\` is stored and logged, but its outcome could not be logged: ${message(error)}; fix the audit log`, {
        cause: error,
      });
    } finally {
      wake(id);
    }
    return toApprovalRequest(updated, now());
  }

  return {
    check,
    async get(id) {
      if (!validId(id)) return undefined;
      const r = await storeCall(() => store.get(id));
      return r ? toApprovalRequest(r, now()) : undefined;
    },
    async list(filter = {}) {
      const nowMs = now();
      const rows = await storeCall(() => store.list({ ...(filter.status ? { status: filter.status } : {}), nowMs }));
      return rows.map((r) => toApprovalRequest(r, nowMs));
    },
    answer,
    async wait(id, { timeoutMs, signal }) {
      const started = Date.now();
      for (;;) {
        const current = await this.get(id);
        if (!current) throw new ApprovalError("request-unknown", `no approval request \`${id}\``);
        const remaining = timeoutMs - (Date.now() - started);
        if (current.status !== "pending" || remaining <= 0 || signal?.aborted) return current;
        await new Promise<void>((resolve) => {
          const set = waiters.get(id) ?? new Set<() => void>();
          waiters.set(id, set);
          const done = () => {
            clearTimeout(timer);
            set.delete(done);
            if (set.size === 0) waiters.delete(id);
            signal?.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, Math.min(pollMs, remaining));
          set.add(done);
          signal?.addEventListener("abort", done, { once: true });
        });
      }
    },
    grants: {
      async list(filter = {}) {
        const nowMs = now();
        const rows = await storeCall(() => store.listGrants(filter.active ? { activeAtMs: nowMs } : {}));
        return rows.map((g) => toGrant(g, nowMs));
      },
      async revoke(id, by) {
        const approver = approvers.get(by);
        if (!approver) throw new ApprovalError("approver-unknown", `\`${by}\` is not an approver in the policy's \`approvers:\` section`);
        if (!validId(id)) throw new ApprovalError("grant-unknown", "no grant has this id");
        const grant = await storeCall(() => store.getGrant(id));
        if (!grant) throw new ApprovalError("grant-unknown", `no grant \`${id}\`; list them with \`gatehouse approvals grants\``);
        if (grant.createdBy !== by && !approver.roles.includes("admin")) {
          throw new ApprovalError("approver-not-allowed", `only \`${grant.createdBy}\` (who gave it) or an admin can revoke grant \`${id}\``);
        }
        const nowMs = now();
        if (!(await storeCall(() => store.revokeGrant(id, by, nowMs)))) throw new ApprovalError("grant-revoked", `grant \`${id}\` is already revoked`);
        try {
          await record({ step: "revoked", id, by }, { ...grant, run: undefined, principal: undefined, environment: undefined }, id);
        } catch (error) {
          throw new ApprovalError("audit-unavailable", `grant \`${id}\` is revoked but the audit log could not record it: ${message(error)}`, { cause: error });
        }
        const after = await storeCall(() => store.getGrant(id));
        return toGrant(after ?? grant, nowMs);
      },
    },
  };
}

function message(error: unknown): string {
  if (error instanceof StoreError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

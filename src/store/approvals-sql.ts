import type { StoredAnswer, StoredApprovalRequest, StoredApprovalStatus, StoredGrant } from "./approvals-store.js";

/** A request row as both SQL stores read it (SQLite gives numbers, pg gives bigint as strings). */
export interface RequestRow {
  id: string;
  digest: string;
  agent: string;
  principal: string | null;
  run: string | null;
  request: string | null;
  environment: string | null;
  tool: string;
  args: string;
  risk: string | null;
  rules: string;
  reasons: string;
  required: number | string;
  policy_digest: string;
  preview: string | null;
  created_ms: number | string;
  expires_ms: number | string;
  status: string;
  decided_ms: number | string | null;
  used_ms: number | string | null;
  reported: number | boolean;
}

export interface AnswerRow {
  request_id: string;
  approver: string;
  verdict: string;
  reason: string | null;
  at_ms: number | string;
}

export interface GrantRow {
  id: string;
  request_id: string;
  tool: string;
  agent: string;
  policy_digest: string;
  args: string | null;
  approvals: number | string;
  created_by: string;
  created_ms: number | string;
  expires_ms: number | string;
  max_uses: number | string | null;
  uses: number | string;
  revoked_ms: number | string | null;
  revoked_by: string | null;
}

const STATUSES: readonly StoredApprovalStatus[] = ["pending", "approved", "denied", "expired", "used"];

/** Builds a request from its row and answer rows; refuses a row it does not recognise. */
export function requestFromRow(row: RequestRow, answers: readonly AnswerRow[]): StoredApprovalRequest {
  const status = row.status as StoredApprovalStatus;
  if (!STATUSES.includes(status)) throw new Error(`approval request \`${row.id}\` has unknown status \`${row.status}\``);
  return {
    id: row.id,
    digest: row.digest,
    agent: row.agent,
    ...(row.principal === null ? {} : { principal: row.principal }),
    ...(row.run === null ? {} : { run: row.run }),
    ...(row.request === null ? {} : { request: row.request }),
    ...(row.environment === null ? {} : { environment: row.environment }),
    tool: row.tool,
    args: JSON.parse(row.args) as unknown,
    ...(row.risk === null ? {} : { risk: row.risk }),
    rules: JSON.parse(row.rules) as string[],
    reasons: JSON.parse(row.reasons) as string[],
    required: Number(row.required),
    policyDigest: row.policy_digest,
    ...(row.preview === null ? {} : { preview: JSON.parse(row.preview) as unknown }),
    createdMs: Number(row.created_ms),
    expiresMs: Number(row.expires_ms),
    status,
    ...(row.decided_ms === null ? {} : { decidedMs: Number(row.decided_ms) }),
    ...(row.used_ms === null ? {} : { usedMs: Number(row.used_ms) }),
    reported: row.reported === true || row.reported === 1,
    answers: answers.map(answerFromRow),
  };
}

function answerFromRow(row: AnswerRow): StoredAnswer {
  return {
    approver: row.approver,
    verdict: row.verdict === "approve" ? "approve" : "deny",
    ...(row.reason === null ? {} : { reason: row.reason }),
    atMs: Number(row.at_ms),
  };
}

export function grantFromRow(row: GrantRow): StoredGrant {
  return {
    id: row.id,
    requestId: row.request_id,
    tool: row.tool,
    agent: row.agent,
    policyDigest: row.policy_digest,
    ...(row.args === null ? {} : { args: JSON.parse(row.args) as unknown }),
    approvals: Number(row.approvals),
    createdBy: row.created_by,
    createdMs: Number(row.created_ms),
    expiresMs: Number(row.expires_ms),
    ...(row.max_uses === null ? {} : { maxUses: Number(row.max_uses) }),
    uses: Number(row.uses),
    ...(row.revoked_ms === null ? {} : { revokedMs: Number(row.revoked_ms) }),
    ...(row.revoked_by === null ? {} : { revokedBy: row.revoked_by }),
  };
}

/** Groups answer rows by request id. */
export function answersByRequest(rows: readonly AnswerRow[]): Map<string, AnswerRow[]> {
  const map = new Map<string, AnswerRow[]>();
  for (const row of rows) {
    const list = map.get(row.request_id) ?? [];
    list.push(row);
    map.set(row.request_id, list);
  }
  return map;
}

/** The JSON text stored for a value; `null` stays SQL NULL. */
export function jsonText(value: unknown): string | null {
  return value === undefined ? null : JSON.stringify(value);
}

/**
 * The WHERE clause for a list filter on the effective status (pending or approved past expiry
 * count as expired). `now` is the placeholder for the time parameter.
 */
export function statusCondition(status: StoredApprovalStatus | undefined, now: string): string {
  switch (status) {
    case undefined:
      return "1 = 1";
    case "pending":
    case "approved":
      return `status = '${status}' AND expires_ms > ${now}`;
    case "expired":
      return `(status = 'expired' OR (status IN ('pending', 'approved') AND expires_ms <= ${now}))`;
    case "denied":
    case "used":
      return `status = '${status}'`;
    default:
      throw new Error("unknown status filter");
  }
}

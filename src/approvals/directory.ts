import { createHash, timingSafeEqual } from "node:crypto";
import type { ApproverRole, ApproversConfig } from "../policy/index.js";

/** An approver as the approvals module sees it. */
export interface Approver {
  readonly name: string;
  readonly roles: readonly ApproverRole[];
}

/** Who may answer; built once from the policy's `approvers:` section. */
export interface ApproverDirectory {
  get(name: string): Approver | undefined;
  list(): readonly Approver[];
  /** The approver whose token this is, or undefined. Compares digests in constant time. */
  authenticate(token: string): Approver | undefined;
  /** Whether any approver has a token (the HTTP API can authenticate someone). */
  hasTokens(): boolean;
}

/**
 * Builds the approver directory from the `approvers:` section.
 *
 * @example
 * const approvers = createApproverDirectory({ alice: { roles: ["approver"], tokenSha256: "…" } });
 */
export function createApproverDirectory(config: ApproversConfig): ApproverDirectory {
  const entries = Object.entries(config).map(([name, c]) => ({
    approver: Object.freeze({ name, roles: Object.freeze([...c.roles]) }),
    digest: c.tokenSha256 === undefined ? undefined : Buffer.from(c.tokenSha256, "hex"),
  }));
  const byName = new Map(entries.map((e) => [e.approver.name, e.approver]));
  return {
    get: (name) => byName.get(name),
    list: () => entries.map((e) => e.approver),
    hasTokens: () => entries.some((e) => e.digest !== undefined),
    authenticate(token) {
      if (token.length === 0 || token.length > 1024) return undefined;
      const digest = createHash("sha256").update(token, "utf8").digest();
      let found: Approver | undefined;
      // Every entry is compared (no early exit) so timing does not tell which identity was close.
      for (const entry of entries) {
        if (entry.digest !== undefined && timingSafeEqual(entry.digest, digest)) found ??= entry.approver;
      }
      return found;
    },
  };
}

/** SHA-256 (hex) of an API token: what goes in `approvers.<name>.tokenSha256`. */
export function tokenDigest(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

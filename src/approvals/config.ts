import type { AuditSink } from "../core/index.js";
import type { ApprovalStore } from "../store/index.js";
import { createApprovals, type Approvals, type ApprovalsOptions } from "./approvals.js";
import { createApproverDirectory, type ApproverDirectory } from "./directory.js";
import { parseDuration, type ApprovalsConfig, type ApproversConfig } from "../policy/index.js";
import type { Notifier } from "./types.js";
import { createWebhookNotifier } from "./webhook.js";

/** What {@link approvalsFromConfig} needs besides the policy's two sections. */
export interface ApprovalsFromConfigOptions {
  /** The policy's `approvers:` section (`policy.file.approvers`). */
  readonly approvers: ApproversConfig | undefined;
  /** The policy's `approvals:` section (`policy.file.approvals`). */
  readonly approvals: ApprovalsConfig | undefined;
  readonly store: ApprovalStore;
  readonly audit: AuditSink;
  /** The link-signing key; required when the section configures a webhook. */
  readonly linkKey?: Uint8Array;
  readonly clock?: () => Date;
  readonly preview?: ApprovalsOptions["preview"];
  readonly onNotifyError?: ApprovalsOptions["onNotifyError"];
  /** Notifiers besides the configured webhook. */
  readonly notifiers?: readonly Notifier[];
}

/**
 * Builds the approvals module from the policy's `approvers:` and `approvals:` sections: the
 * directory, the TTLs, and the webhook notifier with signed links.
 *
 * @example
 * const approvals = approvalsFromConfig({ approvers: policy.file.approvers, approvals: policy.file.approvals, store, audit, linkKey });
 * const gatehouse = await createGatehouse({ policy, audit, approvals });
 */
export function approvalsFromConfig(options: ApprovalsFromConfigOptions): { approvals: Approvals; directory: ApproverDirectory } {
  const directory = createApproverDirectory(options.approvers ?? {});
  const config = options.approvals ?? {};
  const notifiers: Notifier[] = [...(options.notifiers ?? [])];
  if (config.webhook) {
    if (!options.linkKey) throw new TypeError("approvals.webhook is configured: pass the link-signing key (`readOrCreateLinkKey`)");
    notifiers.push(
      createWebhookNotifier({
        url: config.webhook.url,
        publicUrl: config.webhook.publicUrl,
        linkKey: options.linkKey,
        approvers: directory,
        ...(config.webhook.approvers ? { linkApprovers: config.webhook.approvers } : {}),
        ...(config.webhook.linkTtl ? { linkTtlMs: parseDuration(config.webhook.linkTtl) } : {}),
        ...(options.clock ? { clock: options.clock } : {}),
      }),
    );
  }
  const approvals = createApprovals({
    store: options.store,
    audit: options.audit,
    approvers: directory,
    notifiers,
    ...(config.ttl ? { ttlMs: parseDuration(config.ttl) } : {}),
    ...(config.maxGrantTtl ? { maxGrantTtlMs: parseDuration(config.maxGrantTtl) } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.preview ? { preview: options.preview } : {}),
    ...(options.onNotifyError ? { onNotifyError: options.onNotifyError } : {}),
  });
  return { approvals, directory };
}

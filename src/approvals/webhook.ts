import type { ApproverDirectory } from "./directory.js";
import { ApprovalError } from "./errors.js";
import { signLink } from "./links.js";
import type { ApprovalRequest, Notifier } from "./types.js";

/** Options for {@link createWebhookNotifier}. */
export interface WebhookNotifierOptions {
  /** Where each new request is POSTed. */
  readonly url: string;
  /** The base URL of `gatehouse serve`; links are `<publicUrl>/links/<token>`. */
  readonly publicUrl: string;
  /** The link-signing key (shared with `gatehouse serve`, at least 32 bytes). */
  readonly linkKey: Uint8Array;
  readonly approvers: ApproverDirectory;
  /** Only these identities get links (default: every identity with a role). */
  readonly linkApprovers?: readonly string[];
  /** Longest a link lives; never past the request's expiry. Default 1 h. */
  readonly linkTtlMs?: number;
  readonly timeoutMs?: number;
  readonly clock?: () => Date;
}

const MAX_TEXT = 2500;

/**
 * A notifier that POSTs a Slack-compatible message (`text` plus Block Kit `blocks`) for each new
 * request, with one signed approve link and one signed deny link per approver. A link opens a
 * confirmation page; only its POST answers, so chat unfurlers that fetch links answer nothing.
 * The request's own agent and principal get no links (they may not answer).
 *
 * @example
 * createWebhookNotifier({ url: "https://hooks.slack.com/services/…", publicUrl: "https://gatehouse.internal", linkKey, approvers });
 */
export function createWebhookNotifier(options: WebhookNotifierOptions): Notifier {
  const clock = options.clock ?? (() => new Date());
  const linkTtlMs = options.linkTtlMs ?? 3_600_000;
  const base = options.publicUrl.replace(/\/+$/, "");
  return {
    name: "webhook",
    async notify(request) {
      const nowMs = clock().getTime();
      const expiresMs = Math.min(nowMs + linkTtlMs, Date.parse(request.expiresAt));
      const self = new Set([request.agent, request.principal].filter((x): x is string => x !== undefined).map((x) => x.toLowerCase()));
      const names = (options.linkApprovers ?? options.approvers.list().map((a) => a.name)).filter((n) => !self.has(n.toLowerCase()));
      const links = names.flatMap((approver) =>
        (["approve", "deny"] as const).map((verdict) => ({
          approver,
          verdict,
          url: `${base}/links/${signLink(options.linkKey, { requestId: request.id, approver, verdict, expiresMs })}`,
        })),
      );
      const body = slackPayload(request, links);
      let response: Response;
      try {
        response = await fetch(options.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
          redirect: "error",
        });
      } catch (error) {
        throw new ApprovalError("notify-failed", `webhook POST for request ${request.id} failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      await response.body?.cancel();
      if (!response.ok) throw new ApprovalError("notify-failed", `webhook answered HTTP ${response.status} for request ${request.id}`);
    },
  };
}

/** Escapes text for Slack mrkdwn so agent-chosen arguments cannot forge links or mentions. */
function escapeSlack(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function clip(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}… (${text.length - MAX_TEXT} more characters; see the inbox)` : text;
}

/** The Slack-compatible body: a fallback `text`, Block Kit `blocks`, and the request itself under `gatehouse`. */
export function slackPayload(request: ApprovalRequest, links: readonly { approver: string; verdict: "approve" | "deny"; url: string }[]): Record<string, unknown> {
  const headline = `Approval needed: \`${escapeSlack(request.agent)}\` wants to run \`${escapeSlack(request.tool)}\`${request.risk ? ` (${request.risk})` : ""}`;
  const fields = [
    `*Agent*\n${escapeSlack(request.agent)}`,
    `*Tool*\n${escapeSlack(request.tool)}`,
    `*Run*\n${escapeSlack(request.run ?? "–")}`,
    `*Approvers needed*\n${request.required}`,
    `*Rule*\n${escapeSlack(request.rules.join(", ") || "default")}`,
    `*Expires*\n${request.expiresAt}`,
  ];
  const blocks: Record<string, unknown>[] = [
    { type: "section", text: { type: "mrkdwn", text: headline } },
    { type: "section", fields: fields.map((text) => ({ type: "mrkdwn", text })) },
    { type: "section", text: { type: "mrkdwn", text: `*Why*\n${escapeSlack(clip(request.reasons.join("; ")))}` } },
    { type: "section", text: { type: "mrkdwn", text: `*Arguments*\n\`\`\`${escapeSlack(clip(JSON.stringify(request.args, null, 2)))}\`\`\`` } },
  ];
  if (request.request !== undefined) blocks.push({ type: "section", text: { type: "mrkdwn", text: `*User's request*\n${escapeSlack(clip(request.request))}` } });
  if (request.preview !== undefined) {
    blocks.push({ type: "section", text: { type: "mrkdwn", text: `*Dry-run preview*\n\`\`\`${escapeSlack(clip(JSON.stringify(request.preview, null, 2)))}\`\`\`` } });
  }
  // Block Kit allows 25 elements per actions block.
  for (let i = 0; i < links.length; i += 24) {
    blocks.push({
      type: "actions",
      elements: links.slice(i, i + 24).map((link) => ({
        type: "button",
        text: { type: "plain_text", text: `${link.verdict === "approve" ? "Approve" : "Deny"} as ${link.approver}`.slice(0, 75) },
        style: link.verdict === "approve" ? "primary" : "danger",
        url: link.url,
      })),
    });
  }
  return { text: `${headline} — request ${request.id}`, blocks, gatehouse: { request, links } };
}

import type { ApprovalRequest } from "../approvals/index.js";

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHtml(title)}</title><style>body{font:15px/1.4 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
pre{background:#f4f4f4;padding:.6rem;overflow:auto;max-height:24rem}dt{font-weight:600}button{font-size:1rem;padding:.5rem 1.2rem}</style>
</head><body>${body}</body></html>`;
}

/** The confirmation page a signed link opens: the full request and one button that POSTs the answer. */
export function linkConfirmPage(request: ApprovalRequest, approver: string, verdict: "approve" | "deny", action: string): string {
  const verb = verdict === "approve" ? "Approve" : "Deny";
  return page(
    `${verb} request ${request.id}`,
    `<h1>${verb} <code>${escapeHtml(request.tool)}</code> for <code>${escapeHtml(request.agent)}</code>?</h1>
${requestDetails(request)}
<form method="post" action="${escapeHtml(action)}"><p><label>Reason (optional)<br><input name="reason" maxlength="1000" size="60"></label></p>
<p><button type="submit">${verb} as ${escapeHtml(approver)}</button></p></form>`,
  );
}

/** A one-line result page. */
export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

function requestDetails(r: ApprovalRequest): string {
  const row = (k: string, v: string | undefined) => (v === undefined ? "" : `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`);
  return `<dl>${row("Request", r.id)}${row("Status", r.status)}${row("Agent", r.agent)}${row("Run", r.run)}${row("Principal", r.principal)}
${row("Environment", r.environment)}${row("Risk", r.risk)}${row("Rule", r.rules.join(", ") || "default")}${row("Why", r.reasons.join("; "))}
${row("Approvals", `${r.approvals} of ${r.required}`)}${row("Expires", r.expiresAt)}${row("User's request", r.request)}</dl>
<h2>Arguments</h2><pre>${escapeHtml(JSON.stringify(r.args, null, 2))}</pre>${
    r.preview === undefined ? "" : `<h2>Dry-run preview</h2><pre>${escapeHtml(JSON.stringify(r.preview, null, 2))}</pre>`
  }`;
}

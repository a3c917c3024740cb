import { randomBytes } from "node:crypto";

/**
 * The approval question a gateway asks by elicitation, and the single-use nonces that bind a
 * 2026-07-28 client's answer to the question actually asked.
 *
 * Threat: the agent drives the MCP client. Without a nonce it could put an `approve: true` answer
 * in its FIRST request and approve its own call; with an unbounded question it could hide an
 * argument past the cut the human sees.
 */

/** Longest string value shown whole in the question; longer ones are cut, saying so. */
export const MAX_SHOWN_VALUE = 300;
/** Longest rendering of the arguments; beyond it the question is not asked by elicitation at all. */
export const MAX_RENDERED_ARGS = 4000;
/** How deep nested arguments are shown; anything deeper makes the rendering refuse (too complex). */
const MAX_DEPTH = 16;

/**
 * The arguments as canonical JSON (keys sorted, every key shown), each string longer than
 * {@link MAX_SHOWN_VALUE} cut on its own with an explicit `[truncated N of M chars]`. Returns
 * undefined when the whole rendering is still longer than {@link MAX_RENDERED_ARGS} (or nests too
 * deep): the caller then must not ask by elicitation, since the human would not see everything.
 *
 * @example
 * renderApprovalArguments({ b: 1, a: "x".repeat(500) }) // '{"a":"xxx…[truncated 200 of 500 chars]","b":1}'
 */
export function renderApprovalArguments(args: unknown): string | undefined {
  let rendered: string;
  try {
    rendered = render(args, 0);
  } catch {
    return undefined;
  }
  return rendered.length > MAX_RENDERED_ARGS ? undefined : rendered;
}

function render(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new Error("too deep");
  if (typeof value === "string") {
    const chars = [...value];
    if (chars.length <= MAX_SHOWN_VALUE) return JSON.stringify(value);
    const cut = chars.length - MAX_SHOWN_VALUE;
    return `${JSON.stringify(chars.slice(0, MAX_SHOWN_VALUE).join(""))}[truncated ${cut} of ${chars.length} chars]`;
  }
  if (value === null || typeof value === "number" || typeof value === "boolean") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((item) => render(item, depth + 1)).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${render(key, depth + 1)}:${render((value as Record<string, unknown>)[key], depth + 1)}`).join(",")}}`;
  }
  // undefined, functions, bigint: not JSON arguments; shown by type so nothing disappears silently.
  return `<${typeof value}>`;
}

/** What an issued approval question is bound to. */
export interface ApprovalNonceBinding {
  readonly approvalId: string;
  readonly tool: string;
  /** Canonical JSON of the call's arguments (as the client sent them). */
  readonly argsKey: string;
}

export interface ApprovalNonces {
  /** Issues a nonce for a question just asked; the oldest is dropped beyond the cap. */
  issue(binding: ApprovalNonceBinding): string;
  /**
   * Takes (deletes) a nonce when it was issued, has not expired, and is bound to this approval,
   * tool and arguments; undefined otherwise. A nonce that exists but is bound to another call is
   * left in place (it may still be answered by its own call's retry).
   */
  take(nonce: string, binding: ApprovalNonceBinding): boolean;
  readonly size: number;
}

/**
 * Server-side, single-use nonces for approval questions asked of 2026-07-28 clients.
 *
 * @example
 * const nonces = createApprovalNonces({ clock: () => new Date() });
 * const nonce = nonces.issue({ approvalId, tool, argsKey });
 * nonces.take(nonce, { approvalId, tool, argsKey }); // true once, then false
 */
export function createApprovalNonces(options: { readonly clock: () => Date; readonly ttlMs?: number; readonly max?: number }): ApprovalNonces {
  const ttlMs = options.ttlMs ?? 10 * 60_000;
  const max = options.max ?? 1000;
  const issued = new Map<string, ApprovalNonceBinding & { readonly expires: number }>();
  const sweep = (now: number) => {
    for (const [nonce, entry] of issued) if (entry.expires <= now) issued.delete(nonce);
  };
  return {
    issue(binding) {
      const now = options.clock().getTime();
      sweep(now);
      while (issued.size >= max) issued.delete(issued.keys().next().value!);
      const nonce = randomBytes(24).toString("base64url");
      issued.set(nonce, { approvalId: binding.approvalId, tool: binding.tool, argsKey: binding.argsKey, expires: now + ttlMs });
      return nonce;
    },
    take(nonce, binding) {
      const entry = issued.get(nonce);
      if (!entry) return false;
      if (entry.expires <= options.clock().getTime()) {
        issued.delete(nonce);
        return false;
      }
      if (entry.approvalId !== binding.approvalId || entry.tool !== binding.tool || entry.argsKey !== binding.argsKey) return false;
      issued.delete(nonce);
      return true;
    },
    get size() {
      return issued.size;
    },
  };
}

import { ProtocolErrorCode } from "@modelcontextprotocol/server";
import { canonicalJson, sha256Hex, type DecisionCode } from "../../core/index.js";
import { DEFAULT_CLIENT_REQUESTS_PER_MINUTE, type ClientRequestKind, type McpServerConfig } from "./config.js";
import type { ForwardedUpstreamRequest } from "./upstream.js";

// Requests an upstream server sends to the client side are the server acting on the user, not the
// agent acting on a tool: sampling puts the server's text before the user's model (a
// prompt-injection channel, paid with the user's tokens), elicitation asks the user for
// information (phishing), roots reveals the user's directories. The upstream is untrusted, so each
// kind is refused unless the server's `clientRequests` lists it, and limited when it does.

/** The method each `clientRequests` kind allows. */
export const CLIENT_REQUEST_METHODS: Readonly<Record<ClientRequestKind, ForwardedUpstreamRequest>> = {
  sampling: "sampling/createMessage",
  elicitation: "elicitation/create",
  roots: "roots/list",
};

/** The `clientRequests` kind of a forwarded method. */
export function clientRequestKind(method: ForwardedUpstreamRequest): ClientRequestKind {
  switch (method) {
    case "sampling/createMessage":
      return "sampling";
    case "elicitation/create":
      return "elicitation";
    case "roots/list":
      return "roots";
  }
}

/** What the audit log keeps of a request or an answer: its size and digest, never its text. */
export interface ContentDigest {
  /** Size in bytes of the canonical JSON (RFC 8785) of the content after the output filter. */
  readonly bytes: number;
  /** SHA-256 (hex) of that JSON. */
  readonly sha256: string;
}

/** A request's audit summary: the digest plus the fields an operator needs that carry no text. */
export interface ClientRequestSummary extends ContentDigest {
  /** sampling: the tokens asked for. */
  readonly maxTokens?: number;
  /** sampling: how many messages the server put before the model. */
  readonly messages?: number;
  /** sampling: whether the server asked for the client's context (`thisServer`, `allServers`). */
  readonly includeContext?: string;
  /** elicitation: `form` or `url`. */
  readonly mode?: string;
}

/**
 * Digests content for the audit log. The value is what passed the output filter, so the digest
 * of a secret the filter caught is never stored (a digest of a short secret can be brute-forced).
 */
export function digestContent(value: unknown): ContentDigest {
  const json = canonicalJson(value ?? null);
  return { bytes: Buffer.byteLength(json, "utf8"), sha256: sha256Hex(json) };
}

/**
 * The audit summary of a request's (filtered) params: size and digest, and for sampling the
 * token count, message count and context asked for; for elicitation its mode.
 *
 * @example
 * summarizeClientRequest("sampling/createMessage", { messages: [m], maxTokens: 100 }) // { bytes, sha256, maxTokens: 100, messages: 1 }
 */
export function summarizeClientRequest(method: ForwardedUpstreamRequest, params: Record<string, unknown> | undefined): ClientRequestSummary {
  const digest = digestContent(params ?? {});
  const p = params ?? {};
  if (method === "sampling/createMessage") {
    return {
      ...digest,
      ...(typeof p.maxTokens === "number" ? { maxTokens: p.maxTokens } : {}),
      ...(Array.isArray(p.messages) ? { messages: p.messages.length } : {}),
      // Only the spec's values: anything else would carry the upstream's text into the log.
      ...(p.includeContext === "none" || p.includeContext === "thisServer" || p.includeContext === "allServers" ? { includeContext: p.includeContext } : {}),
    };
  }
  if (method === "elicitation/create") return { ...digest, mode: p.mode === "url" ? "url" : "form" };
  return digest;
}

/** The audit summary of the client's (filtered) answer: size and digest, and what carries no text. */
export function summarizeClientAnswer(
  method: ForwardedUpstreamRequest,
  result: unknown,
): ContentDigest & { readonly action?: string; readonly stopReason?: string; readonly roots?: number } {
  const digest = digestContent(result);
  const r = (typeof result === "object" && result !== null ? result : {}) as Record<string, unknown>;
  if (method === "elicitation/create" && typeof r.action === "string") return { ...digest, action: r.action.slice(0, 16) };
  if (method === "sampling/createMessage" && typeof r.stopReason === "string") return { ...digest, stopReason: r.stopReason.slice(0, 32) };
  if (method === "roots/list" && Array.isArray(r.roots)) return { ...digest, roots: r.roots.length };
  return digest;
}

/** The policy's answer to one request from an upstream. */
export type ClientRequestRuling =
  | { readonly allowed: true; readonly rule: string }
  | {
      readonly allowed: false;
      readonly code: Extract<DecisionCode, "denied-by-default" | "client-request-limited">;
      /** The JSON-RPC error code the upstream gets. */
      readonly rpcCode: number;
      readonly reason: string;
    };

/**
 * Rules on a request by the server's configuration: refused unless `clientRequests` lists its
 * kind (deny by default); a sampling request asking for more than `samplingMaxTokens` is refused.
 * The rate limit is applied later, by `createClientRequestRateLimit`, once the request is
 * deliverable (refused requests do not spend the server's allowance).
 *
 * @example
 * ruleOnClientRequest({ name: "fs", command: "x" }, "roots/list", undefined) // { allowed: false, code: "denied-by-default", ... }
 */
export function ruleOnClientRequest(config: McpServerConfig | undefined, method: ForwardedUpstreamRequest, params: Record<string, unknown> | undefined): ClientRequestRuling {
  const kind = clientRequestKind(method);
  const server = config?.name ?? "?";
  if (!config?.clientRequests?.includes(kind)) {
    return {
      allowed: false,
      code: "denied-by-default",
      rpcCode: ProtocolErrorCode.MethodNotFound,
      reason: `the policy does not let server \`${server}\` send ${method} to the client (its \`clientRequests\` does not list \`${kind}\`)`,
    };
  }
  if (method === "sampling/createMessage") {
    // The gateway declares bare `sampling: {}` upstream, never `sampling.tools` or
    // `sampling.context`, and a server must not use what was not declared (MCP 2025-11-25,
    // "Sampling"). Context from the client's conversation could carry other servers' data to this
    // one, and tools would let it drive the user's model through a tool loop of its own.
    if (params?.tools !== undefined || params?.toolChoice !== undefined) {
      return {
        allowed: false,
        code: "denied-by-default",
        rpcCode: ProtocolErrorCode.InvalidParams,
        reason: "the sampling request offers the model tools, which the gateway never allows (it does not declare `sampling.tools`)",
      };
    }
    if (params?.includeContext !== undefined && params.includeContext !== "none") {
      return {
        allowed: false,
        code: "denied-by-default",
        rpcCode: ProtocolErrorCode.InvalidParams,
        reason: "the sampling request asks for context from the client's conversation (`includeContext`), which the gateway never allows (it does not declare `sampling.context`)",
      };
    }
  }
  const cap = config.clientRequestLimits?.samplingMaxTokens;
  if (method === "sampling/createMessage" && cap !== undefined) {
    const asked = params?.maxTokens;
    if (typeof asked !== "number" || !Number.isFinite(asked) || asked > cap) {
      return {
        allowed: false,
        code: "client-request-limited",
        rpcCode: ProtocolErrorCode.InvalidParams,
        reason: `the sampling request asks for ${typeof asked === "number" ? asked : "an unstated number of"} tokens; server \`${server}\` may ask for at most ${cap} (\`clientRequestLimits.samplingMaxTokens\`)`,
      };
    }
  }
  return { allowed: true, rule: `mcp.servers.${server}.clientRequests.${kind}` };
}

/** Per-server sliding 60-second windows over requests forwarded and refusals recorded. */
export interface ClientRequestRateLimit {
  /** Takes one slot of `server`'s window, or returns the refusal when it is full. */
  take(config: McpServerConfig): { readonly reason: string } | undefined;
  /**
   * Whether a refusal of `server`'s request gets its own audit record: at most
   * `REFUSALS_RECORDED_PER_MINUTE` in any 60 seconds. Returns how many refusals went unrecorded
   * since the last recorded one (the next record carries the count), or undefined when this one is
   * not recorded either (it is counted).
   */
  recordRefusal(server: string): { readonly unrecorded: number } | undefined;
}

const WINDOW_MS = 60_000;

/**
 * Refusals recorded one by one per server in any 60 seconds. A hostile server can send requests
 * as fast as it likes, and every refusal would otherwise be a durable write: past this, refusals
 * are counted and the count goes into the next record.
 */
export const REFUSALS_RECORDED_PER_MINUTE = 60;

/**
 * Creates the per-server rate limit on forwarded client requests (`clientRequestLimits.perMinute`,
 * default 30): a server whose requests were forwarded that many times in the last 60 seconds is
 * refused until the oldest of them leaves the window. A server that keeps sampling could otherwise
 * spend the user's tokens in a loop, or bury the user in questions. It also bounds how many
 * refusals are recorded one by one (`recordRefusal`).
 *
 * @example
 * const limit = createClientRequestRateLimit(() => new Date());
 * limit.take(config) // undefined: forwarded; { reason } when the window is full
 */
export function createClientRequestRateLimit(clock: () => Date): ClientRequestRateLimit {
  const forwarded = new Map<string, number[]>();
  const refusals = new Map<string, number[]>();
  const unrecorded = new Map<string, number>();
  /** Takes a slot of `key`'s window in `windows` when fewer than `limit` are in use. */
  const takeSlot = (windows: Map<string, number[]>, key: string, limit: number): boolean => {
    const now = clock().getTime();
    let window = windows.get(key);
    if (!window) windows.set(key, (window = []));
    while (window.length > 0 && window[0]! <= now - WINDOW_MS) window.shift();
    if (window.length >= limit) return false;
    window.push(now);
    return true;
  };
  return {
    take(config) {
      const limit = config.clientRequestLimits?.perMinute ?? DEFAULT_CLIENT_REQUESTS_PER_MINUTE;
      if (takeSlot(forwarded, config.name, limit)) return undefined;
      return { reason: `server \`${config.name}\` sent ${limit} requests to the client in the last minute, its limit (\`clientRequestLimits.perMinute\`); try again later` };
    },
    recordRefusal(server) {
      if (!takeSlot(refusals, server, REFUSALS_RECORDED_PER_MINUTE)) {
        unrecorded.set(server, (unrecorded.get(server) ?? 0) + 1);
        return undefined;
      }
      const count = unrecorded.get(server) ?? 0;
      unrecorded.delete(server);
      return { unrecorded: count };
    },
  };
}

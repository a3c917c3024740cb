import { randomUUID } from "node:crypto";
import {
  CallToolRequestParamsSchema,
  GetPromptRequestParamsSchema,
  PaginatedRequestParamsSchema,
  ReadResourceRequestParamsSchema,
} from "@modelcontextprotocol/core";
import {
  CLIENT_CAPABILITIES_META_KEY,
  inputRequired,
  inputResponse,
  ProtocolError,
  ProtocolErrorCode,
  Server,
  type ClientCapabilities,
  type InputRequest,
  type CallToolResult,
  type Notification,
  type Prompt,
  type Resource,
  type ResourceTemplateType,
  type Result,
  type ServerContext,
} from "@modelcontextprotocol/server";
import type { z } from "zod";
import { canonicalJson, type Action, type AuditEvent, type AuditOutcome, type AuditSink, type Check, type Decision, type DecisionCode } from "../../core/index.js";
import { createGate, type Gate } from "../../gate/index.js";
import { evaluatePolicy, type CompiledPolicy } from "../../policy/index.js";
import { createApprovalNonces, renderApprovalArguments } from "./approval-question.js";
import { buildCatalog, type BlockReport, type Catalog } from "./catalog.js";
import { screenListedItem, type ListingKind } from "./listing.js";
import { createClientRequestRateLimit, ruleOnClientRequest, summarizeClientAnswer, summarizeClientRequest } from "./client-requests.js";
import { NAMESPACE_SEPARATOR, type McpServerConfig } from "./config.js";
import { McpGatewayError, errorText, type McpErrorCode } from "./errors.js";
import { refuseRequestedName } from "./names.js";
import { scrubText } from "./scrub-text.js";
import type { PinStore } from "./pins.js";
import { connectUpstream, type ForwardedUpstreamRequest, type Upstream, type UpstreamEvents } from "./upstream.js";

/** The gateway's identity towards clients. */
const SERVER_INFO = { name: "gatehouse", version: "0.1.0" };

/** Most pages read from one upstream's resources or prompts list. */
const MAX_PAGES = 100;

/** A call that reports progress may run this many times the upstream's timeout in total, no longer. */
const PROGRESS_TIMEOUT_FACTOR = 10;

/** Most resource URIs whose owning server the gateway remembers (oldest forgotten first). */
const MAX_RESOURCE_OWNERS = 10_000;

/** The first protocol revision of the stateless era (no sessions, no server-to-client requests). */
const FIRST_STATELESS_REVISION = "2026-07-28";

type Extra = ServerContext;
type ToolCallParams = z.output<typeof CallToolRequestParamsSchema>;

/** The `inputResponses` key of the approval question asked of a 2026-07-28 client. */
const APPROVAL_INPUT_KEY = "gatehouse-approval";

/** Prefix of the `requestState` of an approval question (the rest is a single-use nonce). */
const APPROVAL_STATE_PREFIX = "gatehouse-approval:";

/** What changed, for serving entries that deliver list changes themselves (2026-07-28 over HTTP). */
export type McpChange = { readonly kind: "tools" | "resources" | "prompts" } | { readonly kind: "resource"; readonly uri: string };

/** A request from an upstream waiting for the answer of a 2026-07-28 client (`input_required`). */
interface PendingInput {
  readonly key: string;
  readonly request: InputRequest;
  resolve(result: Result): void;
  reject(error: Error): void;
}

/**
 * A tool call in flight: upstream requests (sampling, elicitation, roots) are forwarded to its
 * client. `server` and `ctx` are those of the client request the call currently answers: on the
 * 2026-07-28 revision a call that needs input from the client is suspended (the request is answered
 * with `input_required`) and resumed by the client's retry, a new request.
 */
interface InFlight {
  server: Server;
  ctx: Extra;
  /** 2026-07-28 only: what the upstream is waiting for, and a wake-up for the request awaiting the call. */
  readonly input?: {
    readonly token: string;
    readonly tool: string;
    readonly argsKey: string;
    readonly pending: Map<string, PendingInput>;
    wake: () => void;
    counter: number;
  };
}

/** Prefix of the `requestState` naming a suspended call (the rest is an unguessable token). */
const SUSPENDED_STATE_PREFIX = "gatehouse-call:";

/**
 * The part of the approvals module the gateway needs to turn a client's elicitation answer into an
 * approval (src/approvals `Approvals.answer`, APPROVALS-API.md).
 */
export interface McpApprovals {
  answer(id: string, answer: { approver: string; verdict: "approve" | "deny"; reason?: string }): Promise<unknown>;
}

export interface McpGatewayOptions {
  /** The policy as loaded; the gateway adds exposed unlisted tools to a copy of it. */
  readonly policy: CompiledPolicy;
  readonly audit: AuditSink;
  /** The upstream servers. */
  readonly servers: readonly McpServerConfig[];
  readonly pins: PinStore;
  /** Checks after the policy check (the approvals check, limits...). */
  readonly checks?: readonly Check[];
  /** The agent every call is made as (the policy's only agent when omitted). */
  readonly agent?: string;
  readonly principal?: string;
  readonly run?: string;
  /** `server__tool` names; default: on with several servers. */
  readonly namespace?: boolean;
  /**
   * The output filter every result passes before it is recorded and returned (the secrets
   * scrubber's `scrubValue`). A filter that throws withholds the result.
   */
  readonly scrub?: (value: unknown) => unknown;
  /**
   * With `elicitationApprover`: when a call needs approval and the client supports elicitation,
   * the person at the client is asked, and the answer is recorded as this approver's.
   */
  readonly approvals?: McpApprovals;
  readonly elicitationApprover?: string;
  /** Where operational lines go (stderr for the CLI; never stdout, which carries the protocol). */
  readonly log?: (line: string) => void;
  readonly clock?: () => Date;
  /** How to reach an upstream (tests pass their own); `connectUpstream` by default. */
  readonly connect?: (config: McpServerConfig, events: UpstreamEvents) => Promise<Upstream>;
}

/** A running gateway: upstreams connected, tools pinned, ready to serve clients. */
export interface McpGateway {
  /**
   * A new SDK `Server` (MCP SDK v2) for one client connection; connect it to a transport, or hand
   * `createServer` to a serving entry as its factory. `transient` marks an instance that serves a
   * single request (the stateless 2026-07-28 revision over HTTP): it is not kept for pushing
   * notifications, which reach such clients through `onChange`.
   */
  createServer(options?: { readonly transient?: boolean }): Server;
  /** Registers a listener for list changes and resource updates; returns the unsubscribe function. */
  onChange(listener: (change: McpChange) => void): () => void;
  /** What is served right now. */
  catalog(): Catalog;
  upstreams(): readonly Upstream[];
  /** Re-lists every upstream's tools (after a `list_changed`). */
  refresh(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the MCP gateway: connects every upstream (one that cannot be reached is logged and left
 * out; if none can, it rejects), pins and screens their tools, and builds the Gate over the
 * policy. Every `tools/call`, `resources/read` and `prompts/get` is then an Action the Gate decides:
 *
 * - allow: forwarded with the Gate's normalised arguments; the result passes `scrub`, is recorded
 *   with `gate.recordOutcome`, and is withheld if it cannot be recorded;
 * - deny: a tool error result (`isError: true`) naming the reason, which the model can read;
 * - ask: elicitation when configured and the client supports it, else a result saying the call
 *   awaits approval with the request id; the identical retry runs once approved;
 * - dry-run: nothing is forwarded; the result says so.
 *
 * @example
 * const gateway = await startMcpGateway({ policy, audit, servers: [{ name: "fs", command: "mcp-server-filesystem", args: ["/srv"] }], pins });
 * await gateway.createServer().connect(new StdioServerTransport());
 */
export async function startMcpGateway(options: McpGatewayOptions): Promise<McpGateway> {
  // False until the first catalogue is built (blocked tools are reported during it). Declared
  // first: an upstream may announce a changed tool list while it is still being connected.
  let ready = false;
  // Log lines carry upstream text (stderr, error messages): they pass the output filter too.
  const rawLog = options.log ?? (() => undefined);
  const log = (line: string): void => rawLog(scrubText(options.scrub, line, "[a log line was withheld: the output filter failed on it]"));
  const clock = options.clock ?? (() => new Date());
  const connect = options.connect ?? ((config: McpServerConfig, events: UpstreamEvents) => connectUpstream(config, events));
  const namespace = options.namespace ?? options.servers.length > 1;
  const servers = new Set<Server>();
  const changeListeners = new Set<(change: McpChange) => void>();
  /** Upstream name → the tool calls in flight on it. */
  const inflight = new Map<string, Set<InFlight>>();
  let closed = false;
  /** Bumped by each refresh; a refresh applies its result only if no later one started. */
  let refreshGeneration = 0;
  /** A list change arrived while the first catalogue was being built: it may predate the change. */
  let refreshWanted = false;
  const rateLimit = createClientRequestRateLimit(clock);
  /** Approval questions asked of 2026-07-28 clients, by nonce (single use, bounded). */
  const approvalNonces = createApprovalNonces({ clock });

  const events: UpstreamEvents = {
    log,
    onNotification: (upstream, notification) => forwardNotification(upstream, notification),
    onRequest: (upstream, method, params, signal) => forwardUpstreamRequest(upstream, method, params, signal),
    onDown: (upstream, reason) => {
      log(`upstream \`${upstream}\` is down: ${reason}`);
      if (!closed) void refreshQuietly();
    },
  };

  const connected = await Promise.all(
    options.servers.map((config) =>
      connect(config, events).catch((error: unknown) => {
        log(errorText(error));
        return undefined;
      }),
    ),
  );
  const upstreams = connected.filter((u): u is Upstream => u !== undefined);
  if (upstreams.length === 0) {
    throw new McpGatewayError("mcp-upstream-unreachable", "no upstream MCP server could be reached", "see the lines above for each server's error");
  }

  let catalog: Catalog = await build();
  ready = true;
  let gate: Gate = makeGate(catalog.policy);
  // Built again when a tool changed during the first build (a rug pull then must not be served from
  // the older listing); a failure here fails the start.
  if (refreshWanted) await refresh();
  /** Resource URI → the server that listed it (multi-server mode routes reads by it). */
  const resourceOwners = new Map<string, string>();

  function makeGate(policy: CompiledPolicy): Gate {
    return createGate({ policy, audit: options.audit, ...(options.checks ? { checks: options.checks } : {}), clock });
  }

  async function build(): Promise<Catalog> {
    return buildCatalog({
      upstreams,
      servers: options.servers,
      policy: options.policy,
      pins: options.pins,
      namespace,
      log,
      report: reportBlocked,
    });
  }

  function announce(change: McpChange): void {
    for (const listener of changeListeners) {
      try {
        listener(change);
      } catch (error) {
        log(`a change listener failed: ${errorText(error)}`);
      }
    }
  }

  async function toolsChanged(): Promise<void> {
    announce({ kind: "tools" });
    for (const server of servers) await server.sendToolListChanged().catch(() => undefined);
  }

  /**
   * Re-lists every upstream's tools. Refreshes may overlap (two `list_changed` in a row); each
   * takes a generation number and applies its catalogue only if no later refresh has started, so
   * an older listing that finishes last never replaces a newer one.
   */
  async function refresh(): Promise<void> {
    const generation = ++refreshGeneration;
    const built = await build();
    if (generation !== refreshGeneration) return;
    catalog = built;
    gate = makeGate(catalog.policy);
    await toolsChanged();
  }

  async function refreshQuietly(): Promise<void> {
    if (!ready) {
      refreshWanted = true;
      return;
    }
    const generation = refreshGeneration + 1;
    try {
      await refresh();
    } catch (error) {
      if (generation !== refreshGeneration) {
        log(`refreshing the tool list failed, and a later refresh is under way: ${errorText(error)}`);
        return;
      }
      // Fail closed: the old list may hold a tool that just changed (and was never pinned), so
      // nothing is served until a refresh succeeds.
      catalog = { ...catalog, tools: new Map(), actions: new Map() };
      log(`refreshing the tool list failed; serving no tools until it succeeds: ${errorText(error)}`);
      await toolsChanged();
    }
  }

  /** Records a tool the gateway holds back (audit), and says so on the log. */
  async function reportBlocked({ tool }: BlockReport): Promise<void> {
    const code: DecisionCode = tool.reason === "changed" ? "tool-changed" : tool.reason === "flagged" ? "tool-poisoned" : "action-invalid";
    log(`blocked: ${tool.message}`);
    for (const finding of tool.findings) log(`  ${finding.kind} (${finding.pattern}) in ${finding.field}: ${finding.excerpt}`);
    // Finding excerpts quote the upstream's text: filtered before they are recorded.
    const findings = scrubbed(tool.findings, `the findings on \`${tool.name}\``) ?? [{ withheld: "the output filter failed on the findings" }];
    await appendRefusal(tool.name, code, tool.message, { server: tool.server, tool: tool.upstreamName, findings }).catch((error: unknown) =>
      log(`the audit log could not record a blocked tool: ${errorText(error)}`),
    );
  }

  function appendRefusal(tool: string, code: DecisionCode, reason: string, args: unknown): Promise<void> {
    return appendDecisionEvent(randomUUID(), tool, args, { verdict: "deny", code, rules: [], reasons: [reason] });
  }

  /** The fields naming who acted, for events the gateway records itself (not through the Gate). */
  function actorFields() {
    const agent = options.agent ?? onlyAgent(ready ? catalog.policy : options.policy);
    return {
      ...(agent === undefined ? {} : { agent }),
      ...(options.run === undefined ? {} : { run: options.run }),
      ...(options.principal === undefined ? {} : { principal: options.principal }),
    };
  }

  function appendDecisionEvent(id: string, tool: string, args: unknown, decision: NonNullable<AuditEvent["decision"]>): Promise<void> {
    return options.audit.append({
      type: "decision",
      time: clock().toISOString(),
      action: id,
      tool,
      args,
      ...actorFields(),
      decision,
      policyDigest: (ready ? catalog.policy : options.policy).digest,
    });
  }

  function appendOutcomeEvent(id: string, tool: string, outcome: AuditOutcome): Promise<void> {
    return options.audit.append({ type: "outcome", time: clock().toISOString(), action: id, tool, ...actorFields(), outcome });
  }

  /** The output filter, for text an upstream sends outside a result; undefined when it fails (drop it). */
  function scrubbed<T>(value: T, what: string): T | undefined {
    if (!options.scrub) return value;
    try {
      return options.scrub(value) as T;
    } catch (error) {
      log(`the output filter failed on ${what}; it was dropped: ${errorText(error)}`);
      return undefined;
    }
  }

  function forwardNotification(upstream: string, notification: Notification): void {
    const method = notification.method;
    if (method === "notifications/tools/list_changed") {
      void refreshQuietly();
      return;
    }
    if (method === "notifications/resources/list_changed") announce({ kind: "resources" });
    else if (method === "notifications/prompts/list_changed") announce({ kind: "prompts" });
    // Everything else an upstream says reaches the client through the output filter, like results.
    const params = scrubbed(notification.params, `a ${method} notification from \`${upstream}\``);
    if (notification.params !== undefined && params === undefined) return;
    if (method === "notifications/resources/updated") {
      const uri = (params as { uri?: unknown } | undefined)?.uri;
      if (typeof uri === "string") announce({ kind: "resource", uri });
    }
    for (const server of servers) {
      let sent: Promise<void>;
      if (method === "notifications/message") {
        const p = (params ?? {}) as { level?: string; logger?: string; data?: unknown };
        sent = server.notification({ method, params: { ...p, level: p.level ?? "info", logger: `${upstream}${p.logger ? `/${p.logger}` : ""}` } });
      } else if (method === "notifications/resources/list_changed") {
        sent = server.sendResourceListChanged();
      } else if (method === "notifications/prompts/list_changed") {
        sent = server.sendPromptListChanged();
      } else {
        // Other notifications pass through (filtered); ones the client does not know it ignores.
        sent = server.notification(params === undefined ? { method } : { method, params });
      }
      sent.catch((error: unknown) => log(`forwarding ${method} from \`${upstream}\` failed: ${errorText(error)}`));
    }
  }

  /**
   * A request an upstream sends to the client side while one of its tools runs (sampling,
   * elicitation, roots). The upstream is untrusted, so in this order:
   *
   * 1. the policy: refused unless the server's `clientRequests` lists the request's kind (deny by
   *    default); a sampling request asking for more than `samplingMaxTokens` is refused;
   * 2. delivery: refused when no call is in flight on that upstream, when calls of several clients
   *    are (the request cannot be attributed), when that client did not declare the capability, or
   *    when the output filter fails on the request;
   * 3. the server's rate limit (`clientRequestLimits.perMinute`);
   * 4. the decision is recorded in the audit log (fail closed: a request that cannot be recorded is
   *    refused).
   *
   * Then it is forwarded, its params filtered, to the client whose call is in flight: as a request
   * related to that call, or on 2026-07-28 (no server-to-client requests) by suspending the call.
   * The client's answer passes the output filter too (a secret in the model's or the user's answer
   * does not reach the server) and its outcome is recorded before it goes back; if it cannot be, the
   * upstream gets an error instead. Each refusal is a JSON-RPC error to the upstream naming why,
   * and a `deny` decision in the audit log. The log keeps the size and digest of what passed the
   * filter, never the text.
   */
  async function forwardUpstreamRequest(upstream: string, method: ForwardedUpstreamRequest, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Result> {
    const id = randomUUID();
    const tool = `${upstream}${NAMESPACE_SEPARATOR}${method}`;
    const safe = scrubbed(params, `a ${method} request from \`${upstream}\``);
    const filterFailed = params !== undefined && safe === undefined;
    const args = { server: upstream, method, request: filterFailed ? { filterFailed: true } : summarizeClientRequest(method, safe) };
    const refuse = async (rpcCode: number, code: DecisionCode, why: string): Promise<never> => {
      const record = rateLimit.recordRefusal(upstream);
      if (record) {
        log(`refused ${method} from upstream \`${upstream}\`: ${why}`);
        const recorded = record.unrecorded > 0 ? { ...args, unrecordedRefusalsBefore: record.unrecorded } : args;
        await appendDecisionEvent(id, tool, recorded, { verdict: "deny", code, rules: [], reasons: [why] }).catch((error: unknown) =>
          log(`the audit log could not record a refused ${method}: ${errorText(error)}`),
        );
      }
      throw new ProtocolError(rpcCode, `Gatehouse refused ${method}: ${why}`, { code: "mcp-client-request-refused" satisfies McpErrorCode, decision: code });
    };
    const config = options.servers.find((s) => s.name === upstream);
    const ruling = ruleOnClientRequest(config, method, params);
    if (!ruling.allowed) return refuse(ruling.rpcCode, ruling.code, ruling.reason);
    const calls = [...(inflight.get(upstream) ?? [])];
    const clients = new Set(calls.map((c) => c.server));
    const undeliverable = (code: number, why: string) => refuse(code, "client-request-undeliverable", why);
    if (calls.length === 0) return undeliverable(ProtocolErrorCode.InvalidRequest, "no tool call of a client is in flight on this server, so there is nobody to ask");
    if (clients.size > 1) return undeliverable(ProtocolErrorCode.InvalidRequest, "calls of several clients are in flight on this server, so the request cannot be attributed to one");
    const call = calls[calls.length - 1]!;
    const capabilities = isStateless(call.ctx) ? envelopeCapabilities(call.ctx) : call.server.getClientCapabilities();
    const declared = method === "sampling/createMessage" ? capabilities?.sampling : method === "elicitation/create" ? capabilities?.elicitation : capabilities?.roots;
    if (!declared) return undeliverable(ProtocolErrorCode.MethodNotFound, `the client does not support ${method}`);
    if (filterFailed) return undeliverable(ProtocolErrorCode.InternalError, "the output filter failed on it");
    const input = call.input;
    if (!input && isStateless(call.ctx)) return undeliverable(ProtocolErrorCode.MethodNotFound, `the client speaks MCP ${FIRST_STATELESS_REVISION}, which has no server-to-client requests`);
    const limited = config === undefined ? { reason: "the server is not configured" } : rateLimit.take(config);
    if (limited) return refuse(ProtocolErrorCode.InvalidRequest, "client-request-limited", limited.reason);
    try {
      await appendDecisionEvent(id, tool, args, { verdict: "allow", code: "allowed-by-rule", rules: [ruling.rule], reasons: [`server \`${upstream}\` may send ${method} (\`clientRequests\`)`] });
    } catch (error) {
      log(`refused ${method} from upstream \`${upstream}\`: the audit log cannot record it: ${errorText(error)}`);
      throw new ProtocolError(ProtocolErrorCode.InternalError, `Gatehouse refused ${method}: the audit log cannot record it`, {
        code: "mcp-client-request-refused" satisfies McpErrorCode,
        decision: "audit-unavailable",
      });
    }
    // An upstream's question must not pass for Gatehouse's own (an approval question, say): the
    // person sees which server asks.
    const shown =
      method === "elicitation/create" && safe !== undefined && typeof safe.message === "string"
        ? { ...safe, message: `[asked by the MCP server \`${upstream}\`, not by Gatehouse] ${safe.message}` }
        : safe;
    const request = { method, ...(shown === undefined ? {} : { params: shown }) };
    const started = performance.now();
    let answer: Result;
    try {
      answer = input ? await askStatelessClient(upstream, input, request as InputRequest, signal) : await askClient(upstream, call, request, signal);
    } catch (error) {
      const error_ = scrubText(options.scrub, errorText(error), "the client's error was withheld: the output filter failed on it");
      await appendOutcomeEvent(id, tool, { status: "error", error: error_, durationMs: performance.now() - started }).catch(() => undefined);
      throw error;
    }
    const safeAnswer = scrubbed(answer, `the client's answer to ${method} from \`${upstream}\``);
    const withheld = (why: string): never => {
      throw new ProtocolError(ProtocolErrorCode.InternalError, `Gatehouse withheld the client's answer to ${method}: ${why}`, { code: "mcp-output-withheld" satisfies McpErrorCode });
    };
    if (safeAnswer === undefined) {
      await appendOutcomeEvent(id, tool, { status: "error", error: "the output filter failed on the client's answer", durationMs: performance.now() - started }).catch(() => undefined);
      return withheld("the output filter failed on it");
    }
    try {
      await appendOutcomeEvent(id, tool, { status: "ok", result: summarizeClientAnswer(method, safeAnswer), durationMs: performance.now() - started });
    } catch {
      return withheld("the audit log could not record it");
    }
    return safeAnswer;
  }

  /** 2025-era client: the request goes to it as a request related to the call in flight. */
  function askClient(upstream: string, call: InFlight, request: { method: ForwardedUpstreamRequest; params?: Record<string, unknown> }, signal: AbortSignal): Promise<Result> {
    log(`forwarding ${request.method} from upstream \`${upstream}\` to the client`);
    const upstreamTimeout = upstreamNamed(upstream)?.timeoutMs;
    return call.ctx.mcpReq.send(request as never, { signal, ...(upstreamTimeout === undefined ? {} : { timeout: upstreamTimeout }) });
  }

  /**
   * 2026-07-28: no server-to-client requests. The call is suspended: the client's request is
   * answered with `input_required` carrying this request, and its retry brings the answer.
   */
  function askStatelessClient(upstream: string, input: NonNullable<InFlight["input"]>, request: InputRequest, signal: AbortSignal): Promise<Result> {
    log(`asking the client (${FIRST_STATELESS_REVISION}, input_required) for ${request.method} from upstream \`${upstream}\``);
    return new Promise<Result>((resolve, reject) => {
      const key = `upstream-${++input.counter}`;
      const onAbort = () => {
        input.pending.delete(key);
        reject(new Error("the upstream cancelled its request"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      const settle = <T>(done: (value: T) => void) => (value: T) => {
        signal.removeEventListener("abort", onAbort);
        input.pending.delete(key);
        done(value);
      };
      input.pending.set(key, { key, request, resolve: settle(resolve), reject: settle(reject) });
      input.wake();
    });
  }

  function agentName(): string | undefined {
    return options.agent ?? onlyAgent(catalog.policy);
  }

  function visibleTools() {
    const policy = catalog.policy;
    const name = agentName();
    const agent = name === undefined ? undefined : policy.agents.get(name);
    if (!agent) return [];
    // Definitions are upstream text the model reads: they pass the output filter like results do,
    // and a tool whose definition cannot be filtered is not listed.
    return [...catalog.tools.values()]
      .filter((t) => policy.tools.has(t.name) && (agent.toolSet?.has(t.name) ?? true))
      .flatMap((t) => {
        const safe = scrubbed(t.definition, `the definition of \`${t.name}\``);
        return safe === undefined ? [] : [safe];
      });
  }

  function baseAction(tool: string, args: unknown): Action {
    const agent = agentName();
    return {
      tool,
      args,
      ...(agent === undefined ? {} : { agent }),
      ...(options.run === undefined ? {} : { run: options.run }),
      ...(options.principal === undefined ? {} : { principal: options.principal }),
    };
  }

  function upstreamNamed(name: string): Upstream | undefined {
    return upstreams.find((u) => u.name === name);
  }

  /** Runs `work` for an allowed action, then records and filters its output (fail closed). */
  async function runAllowed<T>(
    id: string,
    action: Action,
    work: () => Promise<T>,
    isError: (value: T) => boolean,
  ): Promise<{ ok: T } | { failure: string; withheld?: true }> {
    const started = performance.now();
    let value: T;
    try {
      value = await work();
    } catch (error) {
      // The upstream's error text may quote a secret: filtered before it is recorded or returned.
      const message = scrubText(options.scrub, errorText(error), "the upstream's error text was withheld: the output filter failed on it");
      try {
        await gate.recordOutcome(id, action, { status: "error", error: message, durationMs: performance.now() - started });
      } catch {
        return { failure: "the call failed, and the audit log could not record it", withheld: true };
      }
      return { failure: message };
    }
    let safe: T;
    try {
      safe = (options.scrub ? options.scrub(value) : value) as T;
    } catch (error) {
      log(`the output filter failed on \`${action.tool}\`: ${errorText(error)}`);
      const failure = "the output was withheld: the output filter failed on it";
      await gate.recordOutcome(id, action, { status: "error", error: failure, durationMs: performance.now() - started }).catch(() => undefined);
      return { failure, withheld: true };
    }
    const outcome: AuditOutcome = { status: isError(safe) ? "error" : "ok", result: safe, durationMs: performance.now() - started };
    try {
      await gate.recordOutcome(id, action, outcome);
    } catch {
      return { failure: "the output was withheld: the audit log could not record it", withheld: true };
    }
    return { ok: safe };
  }

  async function callTool(server: Server, params: ToolCallParams, extra: Extra, elicited = false): Promise<CallToolResult> {
    const name = params.name;
    if (isStateless(extra)) {
      const state = extra.mcpReq.requestState();
      if (typeof state === "string" && state.startsWith(SUSPENDED_STATE_PREFIX)) return resumeCall(server, params, extra, state.slice(SUSPENDED_STATE_PREFIX.length));
    }
    const refusal = refuseRequestedName(name, catalog.namespace);
    if (refusal) {
      log(`refused tools/call: ${refusal}`);
      await appendRefusal(name.slice(0, 200), "action-invalid", refusal, params.arguments ?? {}).catch(() => undefined);
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, refusal, { code: "mcp-tool-name-invalid" satisfies McpErrorCode });
    }
    const blocked = catalog.blocked.get(name);
    if (blocked) {
      const blockedCode: DecisionCode = blocked.reason === "changed" ? "tool-changed" : blocked.reason === "name" ? "action-invalid" : "tool-poisoned";
      await appendRefusal(name, blockedCode, blocked.message, params.arguments ?? {}).catch(() => undefined);
      return errorResult(`Gatehouse blocked \`${name}\`: ${blocked.message}. It has not run.`, {
        code: "mcp-tool-blocked" satisfies McpErrorCode,
        decision: blockedCode,
      });
    }
    const action = baseAction(name, params.arguments ?? {});
    const currentGate = gate;
    const { id, decision } = await currentGate.decide(action);
    const reason = decision.reasons.join("; ");
    const recorded: Action = decision.agent === undefined ? action : { ...action, agent: decision.agent };
    switch (decision.verdict) {
      case "deny":
        return errorResult(`Gatehouse denied \`${name}\`: ${reason}`, decisionMeta(decision));
      case "ask":
        return askForApproval(server, params, extra, decision, elicited);
      case "dry-run":
        await currentGate.recordOutcome(id, recorded, { status: "dry-run" }).catch(() => undefined);
        return errorResult(`\`${name}\` was not run: the policy asks for a dry run (${reason}), and MCP tools offer no preview. Nothing was changed.`, decisionMeta(decision));
      case "allow":
        break;
    }
    const tool = catalog.tools.get(name);
    const upstream = tool ? upstreamNamed(tool.server) : undefined;
    if (!tool || !upstream) {
      await currentGate.recordOutcome(id, recorded, { status: "error", error: "no upstream serves this tool" }).catch(() => undefined);
      return errorResult(`\`${name}\` is allowed by the policy but no connected MCP server offers it. It has not run.`, { code: "mcp-tool-unknown" satisfies McpErrorCode });
    }
    const down = upstream.down();
    if (down !== undefined) {
      await currentGate.recordOutcome(id, recorded, { status: "error", error: `upstream down: ${down}` }).catch(() => undefined);
      return errorResult(`\`${name}\` cannot run: its MCP server \`${upstream.name}\` is down (${down}).`, { code: "mcp-upstream-down" satisfies McpErrorCode });
    }
    const progressToken = extra.mcpReq._meta?.progressToken ?? params._meta?.progressToken;
    const args = (decision.args ?? action.args) as Record<string, unknown>;
    const call: InFlight = {
      server,
      ctx: extra,
      ...(isStateless(extra)
        ? { input: { token: randomUUID(), tool: name, argsKey: canonicalJson(params.arguments ?? {}), pending: new Map<string, PendingInput>(), wake: () => undefined, counter: 0 } }
        : {}),
    };
    let calls = inflight.get(upstream.name);
    if (!calls) inflight.set(upstream.name, (calls = new Set()));
    const inFlight = calls;
    // The upstream call is aborted by the client's cancellation of the request that awaits it: on
    // 2025-era revisions that is the one request; a suspendable 2026-07-28 call has its own
    // controller, linked to whichever request awaits it.
    const controller = call.input ? new AbortController() : undefined;
    const signal = controller?.signal ?? extra.mcpReq.signal;
    const running = (async (): Promise<CallToolResult> => {
      inFlight.add(call);
      let outcome: Awaited<ReturnType<typeof runAllowed<CallToolResult>>>;
      try {
        outcome = await runAllowed(
          id,
          recorded,
          () =>
            upstream.client.request(
              { method: "tools/call", params: { name: tool.upstreamName, arguments: args } },
              {
                signal,
                timeout: upstream.timeoutMs,
                ...(progressToken === undefined
                  ? {}
                  : {
                      resetTimeoutOnProgress: true,
                      // Progress keeps a call alive, but not forever: a total budget still ends it.
                      maxTotalTimeout: upstream.timeoutMs * PROGRESS_TIMEOUT_FACTOR,
                      onprogress: (progress) => {
                        // Progress text comes from the upstream: it passes the output filter too.
                        const safe = scrubbed(progress, `progress of \`${name}\``);
                        if (safe !== undefined) void call.ctx.mcpReq.notify({ method: "notifications/progress", params: { ...safe, progressToken } }).catch(() => undefined);
                      },
                    }),
              },
            ) as Promise<CallToolResult>,
          (result) => result.isError === true,
        );
      } finally {
        inFlight.delete(call);
        for (const pending of call.input?.pending.values() ?? []) pending.reject(new Error("the call ended"));
      }
      if ("ok" in outcome) return call.server.projectCallToolResult(outcome.ok, tool.definition.outputSchema);
      if (signal.aborted) throw new ProtocolError(ProtocolErrorCode.InternalError, "cancelled by the client");
      const downNow = upstream.down();
      return errorResult(
        downNow === undefined ? `\`${name}\` failed: ${outcome.failure}` : `\`${name}\` failed: its MCP server \`${upstream.name}\` went down during the call (${downNow}).`,
        { code: (downNow !== undefined ? "mcp-upstream-down" : outcome.withheld ? "mcp-output-withheld" : "mcp-upstream-invalid") satisfies McpErrorCode },
      );
    })();
    if (!controller) return running;
    // A suspended call may end while no request awaits it; its outcome is recorded all the same.
    running.catch(() => undefined);
    return awaitCall(call, running, controller, upstream.timeoutMs);
  }

  /** Calls suspended for input from a 2026-07-28 client, by token. */
  const suspended = new Map<string, { call: InFlight; running: Promise<CallToolResult>; controller: AbortController; timeoutMs: number; expiry: NodeJS.Timeout }>();

  /**
   * Awaits a forwarded call for the client request in `call.ctx`. On the 2026-07-28 revision, when
   * the upstream asks the client something first, the call is suspended and the request answered with
   * `input_required` (the questions, and a `requestState` naming the call); `resumeCall` continues it.
   */
  async function awaitCall(call: InFlight, running: Promise<CallToolResult>, controller: AbortController, timeoutMs: number): Promise<CallToolResult> {
    const signal = call.ctx.mcpReq.signal;
    const onAbort = () => controller.abort();
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    try {
      const input = call.input!;
      const asked = new Promise<"asked">((resolve) => {
        input.wake = () => resolve("asked");
        if (input.pending.size > 0) resolve("asked");
      });
      const first = await Promise.race([running, asked]);
      if (first !== "asked") return first;
      // Kept until the client's retry, or until the upstream's timeout: a call that ends meanwhile
      // (its outcome is recorded all the same) hands its result to that retry.
      const expiry = setTimeout(() => {
        suspended.delete(input.token);
        log(`a call of \`${input.tool}\` waited ${timeoutMs} ms for the client's answer; it is cancelled`);
        controller.abort();
      }, timeoutMs);
      expiry.unref();
      suspended.set(input.token, { call, running, controller, timeoutMs, expiry });
      return inputRequired({
        inputRequests: Object.fromEntries([...input.pending.values()].map((p) => [p.key, p.request])),
        requestState: `${SUSPENDED_STATE_PREFIX}${input.token}`,
      }) as unknown as CallToolResult;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** The client's retry of a suspended call: its answers go to the upstream, and the call goes on. */
  async function resumeCall(server: Server, params: ToolCallParams, extra: Extra, token: string): Promise<CallToolResult> {
    const entry = suspended.get(token);
    const input = entry?.call.input;
    if (!entry || !input || input.tool !== params.name || input.argsKey !== canonicalJson(params.arguments ?? {})) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, `the requestState names no call of \`${params.name.slice(0, 200)}\` with these arguments in progress (it ended, expired, or is another call's); call the tool again`);
    }
    suspended.delete(token);
    clearTimeout(entry.expiry);
    entry.call.server = server;
    entry.call.ctx = extra;
    const answers = extra.mcpReq.inputResponses ?? {};
    for (const pending of [...input.pending.values()]) {
      const answer = answers[pending.key];
      if (answer !== undefined && typeof answer === "object" && answer !== null) pending.resolve(answer as Result);
    }
    return awaitCall(entry.call, entry.running, entry.controller, entry.timeoutMs);
  }

  async function askForApproval(
    server: Server,
    params: ToolCallParams,
    extra: Extra,
    decision: Decision,
    elicited: boolean,
  ): Promise<CallToolResult> {
    const name = params.name;
    const reason = decision.reasons.join("; ");
    const approval = decision.approval;
    const approvers = decision.approvers ?? 1;
    if (!approval) {
      return errorResult(
        `\`${name}\` needs approval from ${approvers} approver(s) (${reason}), and this gateway has no approval service configured, so it cannot run. It has not run.`,
        decisionMeta(decision),
      );
    }
    const approvals = options.approvals;
    const approver = options.elicitationApprover;
    // Every key shown, sorted, long values cut one by one and saying so; arguments too long to show
    // whole are not asked about by elicitation at all (the approval goes through the CLI or API).
    const shown = renderApprovalArguments(params.arguments ?? {});
    if (shown === undefined && approvals && approver) log(`approval ${approval.id}: the arguments of \`${name}\` are too long to show in full; not asking by elicitation`);
    const question = {
      message: `An agent wants to call \`${name}\` with ${shown ?? ""}. Gatehouse asks for approval: ${reason}`,
      requestedSchema: {
        type: "object" as const,
        properties: { approve: { type: "boolean" as const, title: "Approve this call", description: `approval request ${approval.id}` } },
        required: ["approve"],
      },
    };
    const record = async (answer: { action: string; content?: Record<string, unknown> | undefined }): Promise<CallToolResult | undefined> => {
      if (!approvals || !approver || (answer.action !== "accept" && answer.action !== "decline")) return undefined;
      await approvals.answer(approval.id, {
        approver,
        verdict: answer.action === "accept" && answer.content?.approve === true ? "approve" : "deny",
        reason: "answered in the MCP client (elicitation)",
      });
      return callTool(server, params, extra, true);
    };
    if (shown === undefined) {
      // Fall through to the CLI/API result below.
    } else if (!elicited && approvals && approver && isStateless(extra)) {
      // 2026-07-28: no server-to-client requests; the question goes back as an `input_required`
      // result with a single-use nonce as its `requestState`, and only a retry that echoes that
      // nonce, for this approval, tool and arguments, may carry the answer. An answer sent without
      // one (the agent answering a question nobody asked) is ignored: the call stays pending.
      const capabilities = envelopeCapabilities(extra);
      if (capabilities?.elicitation) {
        const binding = { approvalId: approval.id, tool: name, argsKey: canonicalJson(params.arguments ?? {}) };
        const state = extra.mcpReq.requestState();
        const nonce = typeof state === "string" && state.startsWith(APPROVAL_STATE_PREFIX) ? state.slice(APPROVAL_STATE_PREFIX.length) : undefined;
        const answer = inputResponse(extra.mcpReq.inputResponses, APPROVAL_INPUT_KEY);
        if (nonce !== undefined && answer.kind === "elicit" && approvalNonces.take(nonce, binding)) {
          const result = await record(answer);
          if (result) return result;
        } else if (nonce !== undefined || answer.kind !== "missing") {
          log(`approval ${approval.id}: ignored an answer for \`${name}\` that does not echo a question this gateway asked for this call`);
        } else {
          return inputRequired({
            inputRequests: { [APPROVAL_INPUT_KEY]: inputRequired.elicit(question) },
            requestState: `${APPROVAL_STATE_PREFIX}${approvalNonces.issue(binding)}`,
          }) as unknown as CallToolResult;
        }
      }
    } else if (!elicited && approvals && approver && server.getClientCapabilities()?.elicitation) {
      try {
        const result = await record(await server.elicitInput(question, { signal: extra.mcpReq.signal }));
        if (result) return result;
      } catch (error) {
        log(`elicitation for approval ${approval.id} failed: ${errorText(error)}; the agent is told to retry after approval`);
      }
    }
    return errorResult(
      `\`${name}\` awaits approval (request ${approval.id}, expires ${approval.expiresAt}; ${reason}). It has not run. ` +
        `A human approves it with \`gatehouse approvals approve ${approval.id}\`; then call \`${name}\` again with exactly the same arguments.`,
      { ...decisionMeta(decision), approval: { id: approval.id, expiresAt: approval.expiresAt } },
    );
  }

  /** Decides a resource read or prompt get as an action, and returns the upstream's answer. */
  async function gatedRead<T>(tool: string, args: Record<string, unknown>, run: (upstream: Upstream) => Promise<T>, serverName: string): Promise<T> {
    const action = baseAction(tool, args);
    const currentGate = gate;
    const { id, decision } = await currentGate.decide(action);
    if (decision.verdict !== "allow") {
      throw new ProtocolError(ProtocolErrorCode.InvalidRequest, `Gatehouse ${decision.verdict === "deny" ? "denied" : `did not allow (${decision.verdict})`} \`${tool}\`: ${decision.reasons.join("; ")}`);
    }
    const recorded: Action = decision.agent === undefined ? action : { ...action, agent: decision.agent };
    const upstream = upstreamNamed(serverName);
    if (!upstream || upstream.down() !== undefined) {
      // Allowed but not run: the decision gets its outcome, as a tool call's does.
      await currentGate.recordOutcome(id, recorded, { status: "error", error: `upstream down: ${upstream?.down() ?? "not connected"}` }).catch(() => undefined);
      throw new ProtocolError(ProtocolErrorCode.InternalError, `MCP server \`${serverName}\` is down`);
    }
    const outcome = await runAllowed(id, recorded, () => run(upstream), () => false);
    if ("ok" in outcome) return outcome.ok;
    throw new ProtocolError(ProtocolErrorCode.InternalError, `\`${tool}\` failed: ${outcome.failure}`);
  }

  /** Listing items already reported as dropped (reported once each, like blocked tools; bounded). */
  const reportedListings = new Set<string>();

  /**
   * One item of a resources, templates or prompts listing, cut to the served fields, filtered and
   * screened for poisoning (listing.ts); undefined when dropped, which is logged and recorded in
   * the audit log (once per item) like a blocked tool.
   */
  function screenListed<T extends object>(kind: ListingKind, server: string, action: string, item: T): T | undefined {
    const screened = screenListedItem(kind, item, options.scrub);
    if ("item" in screened) return screened.item;
    const key = `${server}\u0000${kind}\u0000${canonicalJson(item)}`;
    if (reportedListings.has(key)) return undefined;
    if (reportedListings.size >= MAX_RESOURCE_OWNERS) reportedListings.clear();
    reportedListings.add(key);
    log(`blocked: server \`${server}\`: ${screened.message}`);
    const findings = screened.dropped === "poisoned" ? screened.findings : [];
    for (const finding of findings) log(`  ${finding.kind} (${finding.pattern}) in ${finding.field}: ${finding.excerpt}`);
    void appendRefusal(action, screened.dropped === "poisoned" ? "tool-poisoned" : "action-invalid", screened.message, { server, kind, findings }).catch((error: unknown) =>
      log(`the audit log could not record a dropped ${kind}: ${errorText(error)}`),
    );
    return undefined;
  }

  function readableServers(method: "resources/read" | "prompts/get"): { server: string; action: string }[] {
    return [...catalog.actions.entries()].filter(([, a]) => a.method === method).map(([action, a]) => ({ server: a.server, action }));
  }

  function allowedProbe(action: string, args: Record<string, unknown>): boolean {
    return catalog.policy.tools.has(action) && evaluatePolicy(catalog.policy, baseAction(action, args)).verdict !== "deny";
  }

  function createServer(serverOptions: { readonly transient?: boolean } = {}): Server {
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true }, logging: {} },
    });
    server.onerror = (error) => log(`client connection: ${errorText(error)}`);
    if (!serverOptions.transient) {
      server.onclose = () => servers.delete(server);
      servers.add(server);
    }

    handle(server, "tools/list", PaginatedRequestParamsSchema, () => ({ tools: visibleTools() }));
    handle(server, "tools/call", CallToolRequestParamsSchema, (params, extra) => callTool(server, params, extra));

    handle(server, "resources/list", PaginatedRequestParamsSchema, async (_params, extra) => {
      const resources: Resource[] = [];
      for (const { server: name, action } of readableServers("resources/read")) {
        const upstream = upstreamNamed(name);
        if (!upstream || upstream.down() !== undefined) continue;
        const listed = await pages((cursor) => upstream.client.listResources(cursor === undefined ? {} : { cursor }, { signal: extra.mcpReq.signal, timeout: upstream.timeoutMs }), (r) => r.resources).catch(
          (error: unknown) => (log(`upstream \`${name}\`: resources/list failed: ${errorText(error)}`), [] as Resource[]),
        );
        for (const listedResource of listed) {
          const resource = screenListed("resource", name, action, listedResource);
          if (!resource || !allowedProbe(action, { uri: resource.uri })) continue;
          if (!resourceOwners.has(resource.uri)) {
            // Bounded: a server listing without end cannot grow the gateway's memory without end.
            if (resourceOwners.size >= MAX_RESOURCE_OWNERS) resourceOwners.delete(resourceOwners.keys().next().value!);
            resourceOwners.set(resource.uri, name);
          }
          if (resourceOwners.get(resource.uri) === name) resources.push(resource);
        }
      }
      return { resources };
    });

    handle(server, "resources/templates/list", PaginatedRequestParamsSchema, async (_params, extra) => {
      const resourceTemplates: ResourceTemplateType[] = [];
      for (const { server: name, action } of readableServers("resources/read")) {
        const upstream = upstreamNamed(name);
        if (!upstream || upstream.down() !== undefined || !catalog.policy.tools.has(action)) continue;
        const listed = await pages(
          (cursor) => upstream.client.listResourceTemplates(cursor === undefined ? {} : { cursor }, { signal: extra.mcpReq.signal, timeout: upstream.timeoutMs }),
          (r) => r.resourceTemplates,
        ).catch((error: unknown) => (log(`upstream \`${name}\`: resources/templates/list failed: ${errorText(error)}`), [] as ResourceTemplateType[]));
        for (const listedTemplate of listed) {
          // Per template, as tools are filtered: one the policy would deny as a URI is not listed.
          const template = screenListed("resource-template", name, action, listedTemplate);
          if (template && allowedProbe(action, { uri: template.uriTemplate })) resourceTemplates.push(template);
        }
      }
      return { resourceTemplates };
    });

    handle(server, "resources/read", ReadResourceRequestParamsSchema, async (params, extra) => {
      const uri = params.uri;
      const candidates = readableServers("resources/read");
      const owner = resourceOwners.get(uri) ?? (candidates.length === 1 ? candidates[0]!.server : undefined);
      const target = candidates.find((c) => c.server === owner);
      if (!target) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `no MCP server behind the gateway is known to serve \`${uri.slice(0, 200)}\`; list resources first`);
      return gatedRead(target.action, { uri }, (upstream) => upstream.client.readResource({ uri }, { signal: extra.mcpReq.signal, timeout: upstream.timeoutMs }), target.server);
    });

    handle(server, "prompts/list", PaginatedRequestParamsSchema, async (_params, extra) => {
      const prompts: Prompt[] = [];
      for (const { server: name, action } of readableServers("prompts/get")) {
        const upstream = upstreamNamed(name);
        if (!upstream || upstream.down() !== undefined) continue;
        const listed = await pages((cursor) => upstream.client.listPrompts(cursor === undefined ? {} : { cursor }, { signal: extra.mcpReq.signal, timeout: upstream.timeoutMs }), (r) => r.prompts).catch(
          (error: unknown) => (log(`upstream \`${name}\`: prompts/list failed: ${errorText(error)}`), [] as Prompt[]),
        );
        for (const listedPrompt of listed) {
          const prompt = screenListed("prompt", name, action, listedPrompt);
          if (!prompt) continue;
          if (catalog.namespace && prompt.name.includes(NAMESPACE_SEPARATOR)) continue;
          if (!allowedProbe(action, { name: prompt.name })) continue;
          prompts.push({ ...prompt, name: catalog.namespace ? `${name}${NAMESPACE_SEPARATOR}${prompt.name}` : prompt.name });
        }
      }
      return { prompts };
    });

    handle(server, "prompts/get", GetPromptRequestParamsSchema, async (params, extra) => {
      const requested = params.name;
      const candidates = readableServers("prompts/get");
      let target: { server: string; action: string } | undefined;
      let promptName = requested;
      if (catalog.namespace) {
        const refusal = refuseRequestedName(requested, true);
        if (refusal) throw new ProtocolError(ProtocolErrorCode.InvalidParams, refusal);
        const at = requested.indexOf(NAMESPACE_SEPARATOR);
        target = candidates.find((c) => c.server === requested.slice(0, at));
        promptName = requested.slice(at + NAMESPACE_SEPARATOR.length);
      } else {
        target = candidates[0];
      }
      if (!target) throw new ProtocolError(ProtocolErrorCode.InvalidParams, `no MCP server behind the gateway serves prompt \`${requested.slice(0, 200)}\``);
      const args = params.arguments;
      return gatedRead(
        target.action,
        { name: promptName, ...(args === undefined ? {} : { arguments: args }) },
        (upstream) => upstream.client.getPrompt({ name: promptName, ...(args === undefined ? {} : { arguments: args }) }, { signal: extra.mcpReq.signal, timeout: upstream.timeoutMs }),
        target.server,
      );
    });
    return server;
  }

  return {
    createServer,
    catalog: () => catalog,
    onChange(listener) {
      changeListeners.add(listener);
      return () => changeListeners.delete(listener);
    },
    upstreams: () => upstreams,
    refresh,
    async close() {
      closed = true;
      for (const entry of suspended.values()) {
        clearTimeout(entry.expiry);
        entry.controller.abort();
      }
      suspended.clear();
      for (const server of servers) await server.close().catch(() => undefined);
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

/**
 * Registers a request handler whose params are validated against the spec's params schema by the
 * SDK's schema-taking overload, so a malformed request (arguments that are not an object, a `uri`
 * that is not a string) is answered with JSON-RPC -32602 invalid params naming the problem; the
 * overload without a schema answers -32603.
 */
function handle<P extends z.ZodType>(server: Server, method: string, params: P, handler: (params: z.output<P>, extra: Extra) => Result | Promise<Result>): void {
  server.setRequestHandler(method, { params }, handler as never);
}

/** The capabilities a 2026-07-28 request declares in its envelope. */
function envelopeCapabilities(extra: Extra): ClientCapabilities | undefined {
  return (extra.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
}

/** Whether a request was made on the stateless 2026-07-28 revision (it carries the per-request envelope). */
function isStateless(extra: Extra): boolean {
  return extra.mcpReq.envelope !== undefined;
}

function onlyAgent(policy: CompiledPolicy): string | undefined {
  return policy.agents.size === 1 ? [...policy.agents.keys()][0] : undefined;
}

function decisionMeta(decision: Decision): Record<string, unknown> {
  return { code: decision.code, verdict: decision.verdict, rules: decision.rules };
}

/** A tool result the model reads: the call did not produce output, and why. */
function errorResult(text: string, meta: Record<string, unknown>): CallToolResult {
  return { content: [{ type: "text", text }], isError: true, _meta: { "dev.gatehouse/decision": meta } };
}

async function pages<R extends { nextCursor?: string | undefined }, T>(fetchPage: (cursor: string | undefined) => Promise<R>, items: (page: R) => T[]): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await fetchPage(cursor);
    all.push(...items(result));
    cursor = result.nextCursor;
    if (cursor === undefined) break;
  }
  return all;
}

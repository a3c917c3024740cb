import { randomUUID } from "node:crypto";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { z } from "zod";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  type CallToolResult,
  type Notification,
  type Prompt,
  type Resource,
  type ResourceTemplate,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import type { Action, AuditOutcome, AuditSink, Check, Decision, DecisionCode } from "../../core/index.js";
import { createGate, type Gate } from "../../gate/index.js";
import { evaluatePolicy, type CompiledPolicy } from "../../policy/index.js";
import { buildCatalog, type BlockReport, type Catalog } from "./catalog.js";
import { NAMESPACE_SEPARATOR, type McpServerConfig } from "./config.js";
import { McpGatewayError, errorText, type McpErrorCode } from "./errors.js";
import { refuseRequestedName } from "./names.js";
import type { PinStore } from "./pins.js";
import { connectUpstream, type Upstream, type UpstreamEvents } from "./upstream.js";

/** The gateway's identity towards clients. */
const SERVER_INFO = { name: "gatehouse", version: "0.1.0" };

/** Most pages read from one upstream's resources or prompts list. */
const MAX_PAGES = 100;

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type ToolCallParams = { name: string; arguments?: Record<string, unknown> | undefined; _meta?: { progressToken?: string | number | undefined } | undefined };

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
  /** A new SDK `Server` for one client connection; connect it to a transport. */
  createServer(): Server;
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
  const log = options.log ?? (() => undefined);
  const clock = options.clock ?? (() => new Date());
  const connect = options.connect ?? ((config: McpServerConfig, events: UpstreamEvents) => connectUpstream(config, events));
  const namespace = options.namespace ?? options.servers.length > 1;
  const servers = new Set<Server>();
  let closed = false;

  const events: UpstreamEvents = {
    log,
    onNotification: (upstream, notification) => forwardNotification(upstream, notification),
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

  async function refresh(): Promise<void> {
    catalog = await build();
    gate = makeGate(catalog.policy);
    for (const server of servers) await server.sendToolListChanged().catch(() => undefined);
  }

  async function refreshQuietly(): Promise<void> {
    try {
      await refresh();
    } catch (error) {
      if (!ready) {
        // The first catalogue is still being built; it is what will be served.
        log(`refreshing the tool list failed while the first one was built: ${errorText(error)}`);
        return;
      }
      // Fail closed: the old list may hold a tool that just changed (and was never pinned), so
      // nothing is served until a refresh succeeds.
      catalog = { ...catalog, tools: new Map(), actions: new Map() };
      log(`refreshing the tool list failed; serving no tools until it succeeds: ${errorText(error)}`);
      for (const server of servers) await server.sendToolListChanged().catch(() => undefined);
    }
  }

  /** Records a tool the gateway holds back (audit), and says so on the log. */
  async function reportBlocked({ tool }: BlockReport): Promise<void> {
    const code: DecisionCode = tool.reason === "changed" ? "tool-changed" : tool.reason === "flagged" ? "tool-poisoned" : "action-invalid";
    log(`blocked: ${tool.message}`);
    for (const finding of tool.findings) log(`  ${finding.kind} (${finding.pattern}) in ${finding.field}: ${finding.excerpt}`);
    await appendRefusal(tool.name, code, tool.message, { server: tool.server, tool: tool.upstreamName, findings: tool.findings }).catch((error: unknown) =>
      log(`the audit log could not record a blocked tool: ${errorText(error)}`),
    );
  }

  function appendRefusal(tool: string, code: DecisionCode, reason: string, args: unknown): Promise<void> {
    const agent = options.agent ?? onlyAgent(options.policy);
    return options.audit.append({
      type: "decision",
      time: clock().toISOString(),
      action: randomUUID(),
      tool,
      args,
      ...(agent === undefined ? {} : { agent }),
      ...(options.run === undefined ? {} : { run: options.run }),
      ...(options.principal === undefined ? {} : { principal: options.principal }),
      decision: { verdict: "deny", code, rules: [], reasons: [reason] },
      policyDigest: (ready ? catalog.policy : options.policy).digest,
    });
  }

  function forwardNotification(upstream: string, notification: Notification): void {
    const method = notification.method;
    if (method === "notifications/tools/list_changed") {
      void refreshQuietly();
      return;
    }
    for (const server of servers) {
      let sent: Promise<void>;
      if (method === "notifications/message") {
        const params = (notification.params ?? {}) as { level?: string; logger?: string; data?: unknown };
        const data = options.scrub ? options.scrub(params.data) : params.data;
        sent = server.notification({ method, params: { ...params, level: params.level ?? "info", logger: `${upstream}${params.logger ? `/${params.logger}` : ""}`, data } });
      } else if (method === "notifications/resources/list_changed") {
        sent = server.sendResourceListChanged();
      } else if (method === "notifications/prompts/list_changed") {
        sent = server.sendPromptListChanged();
      } else if (method === "notifications/resources/updated") {
        sent = server.notification(notification);
      } else {
        // Other notifications pass through untouched; ones the client does not know it ignores.
        sent = server.notification(notification);
      }
      sent.catch((error: unknown) => log(`forwarding ${method} from \`${upstream}\` failed: ${errorText(error)}`));
    }
  }

  function agentName(): string | undefined {
    return options.agent ?? onlyAgent(catalog.policy);
  }

  function visibleTools() {
    const policy = catalog.policy;
    const name = agentName();
    const agent = name === undefined ? undefined : policy.agents.get(name);
    if (!agent) return [];
    return [...catalog.tools.values()].filter((t) => policy.tools.has(t.name) && (agent.toolSet?.has(t.name) ?? true)).map((t) => t.definition);
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
      const message = errorText(error);
      await gate.recordOutcome(id, action, { status: "error", error: message, durationMs: performance.now() - started }).catch(() => undefined);
      return { failure: message };
    }
    let safe: T;
    try {
      safe = (options.scrub ? options.scrub(value) : value) as T;
    } catch (error) {
      log(`the output filter failed on \`${action.tool}\`: ${errorText(error)}`);
      return { failure: "the output was withheld: the output filter failed on it", withheld: true };
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
    const refusal = refuseRequestedName(name, catalog.namespace);
    if (refusal) {
      log(`refused tools/call: ${refusal}`);
      await appendRefusal(name.slice(0, 200), "action-invalid", refusal, params.arguments ?? {}).catch(() => undefined);
      throw new McpError(ErrorCode.InvalidParams, refusal, { code: "mcp-tool-name-invalid" satisfies McpErrorCode });
    }
    const blocked = catalog.blocked.get(name);
    if (blocked) {
      await appendRefusal(name, blocked.reason === "changed" ? "tool-changed" : "tool-poisoned", blocked.message, params.arguments ?? {}).catch(() => undefined);
      return errorResult(`Gatehouse blocked \`${name}\`: ${blocked.message}. It has not run.`, {
        code: "mcp-tool-blocked" satisfies McpErrorCode,
        decision: blocked.reason === "changed" ? "tool-changed" : "tool-poisoned",
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
    const progressToken = params._meta?.progressToken;
    const args = (decision.args ?? action.args) as Record<string, unknown>;
    const outcome = await runAllowed(
      id,
      recorded,
      () =>
        upstream.client.request({ method: "tools/call", params: { name: tool.upstreamName, arguments: args } }, CallToolResultSchema, {
          signal: extra.signal,
          timeout: upstream.timeoutMs,
          ...(progressToken === undefined
            ? {}
            : {
                resetTimeoutOnProgress: true,
                onprogress: (progress) => {
                  void extra.sendNotification({ method: "notifications/progress", params: { ...progress, progressToken } }).catch(() => undefined);
                },
              }),
        }),
      (result) => result.isError === true,
    );
    if ("ok" in outcome) return outcome.ok;
    if (extra.signal.aborted) throw new McpError(ErrorCode.RequestTimeout, "cancelled by the client");
    const downNow = upstream.down();
    return errorResult(
      downNow === undefined ? `\`${name}\` failed: ${outcome.failure}` : `\`${name}\` failed: its MCP server \`${upstream.name}\` went down during the call (${downNow}).`,
      { code: (downNow !== undefined ? "mcp-upstream-down" : outcome.withheld ? "mcp-output-withheld" : "mcp-upstream-invalid") satisfies McpErrorCode },
    );
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
    if (!elicited && options.approvals && options.elicitationApprover && server.getClientCapabilities()?.elicitation) {
      try {
        const answer = await server.elicitInput(
          {
            message: `An agent wants to call \`${name}\` with ${JSON.stringify(params.arguments ?? {}).slice(0, 2000)}. Gatehouse asks for approval: ${reason}`,
            requestedSchema: {
              type: "object",
              properties: { approve: { type: "boolean", title: "Approve this call", description: `approval request ${approval.id}` } },
              required: ["approve"],
            },
          },
          { signal: extra.signal },
        );
        if (answer.action === "accept" || answer.action === "decline") {
          const approve = answer.action === "accept" && answer.content?.approve === true;
          await options.approvals.answer(approval.id, {
            approver: options.elicitationApprover,
            verdict: approve ? "approve" : "deny",
            reason: "answered in the MCP client (elicitation)",
          });
          return callTool(server, params, extra, true);
        }
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
      throw new McpError(ErrorCode.InvalidRequest, `Gatehouse ${decision.verdict === "deny" ? "denied" : `did not allow (${decision.verdict})`} \`${tool}\`: ${decision.reasons.join("; ")}`);
    }
    const upstream = upstreamNamed(serverName);
    if (!upstream || upstream.down() !== undefined) throw new McpError(ErrorCode.InternalError, `MCP server \`${serverName}\` is down`);
    const recorded: Action = decision.agent === undefined ? action : { ...action, agent: decision.agent };
    const outcome = await runAllowed(id, recorded, () => run(upstream), () => false);
    if ("ok" in outcome) return outcome.ok;
    throw new McpError(ErrorCode.InternalError, `\`${tool}\` failed: ${outcome.failure}`);
  }

  function readableServers(method: "resources/read" | "prompts/get"): { server: string; action: string }[] {
    return [...catalog.actions.entries()].filter(([, a]) => a.method === method).map(([action, a]) => ({ server: a.server, action }));
  }

  function allowedProbe(action: string, args: Record<string, unknown>): boolean {
    return catalog.policy.tools.has(action) && evaluatePolicy(catalog.policy, baseAction(action, args)).verdict !== "deny";
  }

  function createServer(): Server {
    const server = new Server(SERVER_INFO, {
      capabilities: { tools: { listChanged: true }, resources: { listChanged: true }, prompts: { listChanged: true }, logging: {} },
    });
    server.onerror = (error) => log(`client connection: ${errorText(error)}`);
    server.onclose = () => servers.delete(server);
    servers.add(server);

    setHandler(server, ListToolsRequestSchema, () => ({ tools: visibleTools() }));
    setHandler(server, CallToolRequestSchema, (request, extra) => callTool(server, request.params, extra));
    setHandler(server, SetLevelRequestSchema, () => ({}));

    setHandler(server, ListResourcesRequestSchema, async (_request, extra) => {
      const resources: Resource[] = [];
      for (const { server: name, action } of readableServers("resources/read")) {
        const upstream = upstreamNamed(name);
        if (!upstream || upstream.down() !== undefined) continue;
        const listed = await pages((cursor) => upstream.client.listResources(cursor === undefined ? {} : { cursor }, { signal: extra.signal, timeout: upstream.timeoutMs }), (r) => r.resources).catch(
          (error: unknown) => (log(`upstream \`${name}\`: resources/list failed: ${errorText(error)}`), [] as Resource[]),
        );
        for (const resource of listed) {
          if (!allowedProbe(action, { uri: resource.uri })) continue;
          if (!resourceOwners.has(resource.uri)) resourceOwners.set(resource.uri, name);
          if (resourceOwners.get(resource.uri) === name) resources.push(resource);
        }
      }
      return { resources };
    });

    setHandler(server, ListResourceTemplatesRequestSchema, async (_request, extra) => {
      const resourceTemplates: ResourceTemplate[] = [];
      for (const { server: name, action } of readableServers("resources/read")) {
        const upstream = upstreamNamed(name);
        if (!upstream || upstream.down() !== undefined || !catalog.policy.tools.has(action)) continue;
        const listed = await pages(
          (cursor) => upstream.client.listResourceTemplates(cursor === undefined ? {} : { cursor }, { signal: extra.signal, timeout: upstream.timeoutMs }),
          (r) => r.resourceTemplates,
        ).catch(() => [] as ResourceTemplate[]);
        resourceTemplates.push(...listed);
      }
      return { resourceTemplates };
    });

    setHandler(server, ReadResourceRequestSchema, async (request, extra) => {
      const uri = request.params.uri;
      const candidates = readableServers("resources/read");
      const owner = resourceOwners.get(uri) ?? (candidates.length === 1 ? candidates[0]!.server : undefined);
      const target = candidates.find((c) => c.server === owner);
      if (!target) throw new McpError(ErrorCode.InvalidParams, `no MCP server behind the gateway is known to serve \`${uri.slice(0, 200)}\`; list resources first`);
      return gatedRead(target.action, { uri }, (upstream) => upstream.client.readResource({ uri }, { signal: extra.signal, timeout: upstream.timeoutMs }), target.server);
    });

    setHandler(server, ListPromptsRequestSchema, async (_request, extra) => {
      const prompts: Prompt[] = [];
      for (const { server: name, action } of readableServers("prompts/get")) {
        const upstream = upstreamNamed(name);
        if (!upstream || upstream.down() !== undefined) continue;
        const listed = await pages((cursor) => upstream.client.listPrompts(cursor === undefined ? {} : { cursor }, { signal: extra.signal, timeout: upstream.timeoutMs }), (r) => r.prompts).catch(
          () => [] as Prompt[],
        );
        for (const prompt of listed) {
          if (catalog.namespace && prompt.name.includes(NAMESPACE_SEPARATOR)) continue;
          if (!allowedProbe(action, { name: prompt.name })) continue;
          prompts.push({ ...prompt, name: catalog.namespace ? `${name}${NAMESPACE_SEPARATOR}${prompt.name}` : prompt.name });
        }
      }
      return { prompts };
    });

    setHandler(server, GetPromptRequestSchema, async (request, extra) => {
      const requested = request.params.name;
      const candidates = readableServers("prompts/get");
      let target: { server: string; action: string } | undefined;
      let promptName = requested;
      if (catalog.namespace) {
        const refusal = refuseRequestedName(requested, true);
        if (refusal) throw new McpError(ErrorCode.InvalidParams, refusal);
        const at = requested.indexOf(NAMESPACE_SEPARATOR);
        target = candidates.find((c) => c.server === requested.slice(0, at));
        promptName = requested.slice(at + NAMESPACE_SEPARATOR.length);
      } else {
        target = candidates[0];
      }
      if (!target) throw new McpError(ErrorCode.InvalidParams, `no MCP server behind the gateway serves prompt \`${requested.slice(0, 200)}\``);
      const args = request.params.arguments;
      return gatedRead(
        target.action,
        { name: promptName, ...(args === undefined ? {} : { arguments: args }) },
        (upstream) => upstream.client.getPrompt({ name: promptName, ...(args === undefined ? {} : { arguments: args }) }, { signal: extra.signal, timeout: upstream.timeoutMs }),
        target.server,
      );
    });
    return server;
  }

  return {
    createServer,
    catalog: () => catalog,
    upstreams: () => upstreams,
    refresh,
    async close() {
      closed = true;
      for (const server of servers) await server.close().catch(() => undefined);
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

/**
 * Registers a handler whose request is validated against the SDK's schema here, so a malformed
 * request (arguments that are not an object, a `uri` that is not a string) is answered with
 * JSON-RPC -32602 invalid params naming the problem; the SDK's own parse would answer -32603.
 */
function setHandler<S extends z.ZodType<{ method: string }>, R>(server: Server, schema: S, handler: (request: z.infer<S>, extra: Extra) => R | Promise<R>): void {
  const method = (schema as unknown as { shape: { method: { value: string } } }).shape.method.value;
  const loose = z.object({ method: z.literal(method), params: z.unknown().optional() });
  server.setRequestHandler(loose, (request, extra) => {
    const parsed = schema.safeParse(request);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new McpError(ErrorCode.InvalidParams, `invalid ${method} request: ${issue ? `${issue.path.join(".") || "(params)"}: ${issue.message}` : "malformed"}`);
    }
    return handler(parsed.data, extra) as never;
  });
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

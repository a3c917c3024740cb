import type { Tool } from "@modelcontextprotocol/client";
import type { Risk } from "../../core/index.js";
import { parsePolicy, type CompiledPolicy, type PolicyFile } from "../../policy/index.js";
import { seedRiskFromAnnotations } from "./annotations.js";
import { NAMESPACE_SEPARATOR, type McpServerConfig } from "./config.js";
import { errorText } from "./errors.js";
import { actionName, exposedToolName } from "./names.js";
import { detectPoisoning, type PoisonFinding } from "./poisoning.js";
import { servedToolDefinition, type PinStore } from "./pins.js";
import type { Upstream } from "./upstream.js";

/** Most pages of `tools/list` read from one upstream: a server paging forever cannot hang the gateway. */
const MAX_PAGES = 100;

/** A tool the gateway serves. */
export interface ExposedTool {
  readonly name: string;
  readonly server: string;
  readonly upstreamName: string;
  /** The definition clients see (the upstream's, under the exposed name). */
  readonly definition: Tool;
  readonly risk: Risk;
  /** `policy`, or the annotations the risk was seeded from. */
  readonly riskSource: string;
}

/** Why a tool of an upstream is not served. */
export type BlockReason = "changed" | "flagged" | "name";

/** A tool the gateway holds back, with a sentence for the agent and the operator. */
export interface BlockedTool {
  readonly name: string;
  readonly server: string;
  readonly upstreamName: string;
  readonly reason: BlockReason;
  readonly message: string;
  readonly findings: readonly PoisonFinding[];
}

/** What the gateway serves right now, and the policy the Gate decides with. */
export interface Catalog {
  readonly namespace: boolean;
  readonly tools: ReadonlyMap<string, ExposedTool>;
  readonly blocked: ReadonlyMap<string, BlockedTool>;
  /** The policy plus the unlisted tools of `exposeUnlisted` servers, with their seeded risk. */
  readonly policy: CompiledPolicy;
  /** Action name (`resources/read`, `fs__prompts/get`) → the server it reaches. */
  readonly actions: ReadonlyMap<string, { readonly server: string; readonly method: "resources/read" | "prompts/get" }>;
}

/** A tool newly blocked, for the audit log. */
export interface BlockReport {
  readonly tool: BlockedTool;
  readonly digest?: string;
}

export interface BuildCatalogOptions {
  readonly upstreams: readonly Upstream[];
  readonly servers: readonly McpServerConfig[];
  readonly policy: CompiledPolicy;
  readonly pins: PinStore;
  readonly namespace: boolean;
  /** Called for each tool blocked for the first time (a rug pull, a poisoned description, a bad name). */
  readonly report: (report: BlockReport) => Promise<void>;
  readonly log?: (line: string) => void;
}

/**
 * Lists every upstream's tools and decides what is served. For each tool, in order: its name
 * (refused when it smuggles the namespace separator), its pin (a changed definition is blocked
 * until approved), its description and schema (poisoning blocks it on first sight), then its
 * risk class (the policy's, else seeded from annotations when the server is `exposeUnlisted`).
 * An upstream that is down or fails to list contributes nothing; the others are still served.
 */
export async function buildCatalog(options: BuildCatalogOptions): Promise<Catalog> {
  const { policy, namespace } = options;
  const tools = new Map<string, ExposedTool>();
  const blocked = new Map<string, BlockedTool>();
  const actions = new Map<string, { server: string; method: "resources/read" | "prompts/get" }>();
  const added: Record<string, { risk: Risk; description: string }> = {};
  const listings: { upstream: Upstream; config: McpServerConfig; listed: Tool[] }[] = [];

  for (const upstream of options.upstreams) {
    const config = options.servers.find((s) => s.name === upstream.name);
    if (upstream.down() !== undefined || !config) continue;
    const capabilities = upstream.client.getServerCapabilities() ?? {};
    for (const method of ["resources/read", "prompts/get"] as const) {
      if (!(method === "resources/read" ? capabilities.resources : capabilities.prompts)) continue;
      const name = actionName(upstream.name, method, namespace);
      actions.set(name, { server: upstream.name, method });
      if (config.exposeUnlisted && !policy.tools.has(name)) {
        added[name] = { risk: "read-only", description: `MCP ${method} of server ${upstream.name} (unlisted, exposed)` };
      }
    }
    if (!capabilities.tools) continue;
    let listed: Tool[];
    try {
      listed = await listAllTools(upstream);
    } catch (error) {
      options.log?.(`upstream \`${upstream.name}\`: tools/list failed: ${errorText(error)}; its tools are not served`);
      continue;
    }
    listings.push({ upstream, config, listed });
  }

  // Without namespacing, two servers (or one server twice) may offer the same name: serving either
  // would let one shadow the other, so neither is served.
  const offeredBy = new Map<string, string[]>();
  for (const { upstream, listed } of listings) {
    for (const tool of listed) {
      const named = exposedToolName(upstream.name, tool.name, namespace);
      if ("name" in named) offeredBy.set(named.name, [...(offeredBy.get(named.name) ?? []), upstream.name]);
    }
  }

  for (const { upstream, config, listed } of listings) {
    for (const upstreamTool of listed) {
      // Served exactly as pinned and screened: fields outside the pin (`_meta`, `icons`, ...) are dropped.
      const tool: Tool = servedToolDefinition(upstreamTool);
      const named = exposedToolName(upstream.name, tool.name, namespace);
      if ("refusal" in named) {
        const entry: BlockedTool = { name: tool.name, server: upstream.name, upstreamName: tool.name, reason: "name", message: named.refusal, findings: [] };
        blocked.set(`${upstream.name}\u0000${tool.name}`, entry);
        await options.report({ tool: entry });
        continue;
      }
      const rivals = offeredBy.get(named.name) ?? [];
      if (rivals.length > 1) {
        const entry: BlockedTool = {
          name: named.name,
          server: upstream.name,
          upstreamName: tool.name,
          reason: "name",
          message: `tool \`${named.name}\` is offered by more than one server (${rivals.map((r) => `\`${r}\``).join(", ")}) and namespacing is off, so none of them is served; turn namespacing on (\`server${NAMESPACE_SEPARATOR}tool\` names) or remove the tool from all but one server`,
          findings: [],
        };
        blocked.set(named.name, entry);
        await options.report({ tool: entry });
        continue;
      }
      const findings = detectPoisoning(tool);
      const pin = await options.pins.check(upstream.name, upstream.source, tool.name, tool, findings);
      if (pin.state === "blocked") {
        const entry: BlockedTool = {
          name: named.name,
          server: upstream.name,
          upstreamName: tool.name,
          reason: pin.reason,
          findings: pin.findings,
          message: pin.sourceChanged
            ? `tool \`${named.name}\` was approved for server \`${upstream.name}\` at \`${pin.sourceChanged.from}\`, and the server now runs from \`${pin.sourceChanged.to}\`; it is blocked until a human re-approves it (\`gatehouse mcp pins list\`, then \`gatehouse mcp pins approve ${upstream.name} ${tool.name} --digest …\`)`
            : pin.reason === "changed"
              ? `tool \`${named.name}\` changed since it was approved; it is blocked until a human re-approves it (\`gatehouse mcp pins list\`, then \`gatehouse mcp pins approve ${upstream.name} ${tool.name} --digest …\`)`
              : `tool \`${named.name}\` looks poisoned (${summarise(pin.findings)}); it is blocked until a human approves it (\`gatehouse mcp pins list\`, then \`gatehouse mcp pins approve ${upstream.name} ${tool.name} --digest …\`)`,
        };
        blocked.set(named.name, entry);
        if (pin.newlySeen) await options.report({ tool: entry });
        continue;
      }
      const listedTool = policy.tools.get(named.name);
      let risk: Risk;
      let riskSource: string;
      if (listedTool) {
        risk = listedTool.risk;
        riskSource = "policy";
      } else if (config.exposeUnlisted) {
        const seeded = seedRiskFromAnnotations(tool.annotations);
        risk = seeded.risk;
        riskSource = seeded.source;
        added[named.name] = { risk, description: `MCP tool ${tool.name} of server ${upstream.name}; risk from ${seeded.source}` };
      } else {
        continue; // not listed, not exposed: the allow-list decides
      }
      tools.set(named.name, { name: named.name, server: upstream.name, upstreamName: tool.name, definition: { ...tool, name: named.name }, risk, riskSource });
    }
  }

  return { namespace, tools, blocked, actions, policy: Object.keys(added).length > 0 ? extendPolicy(policy, added) : policy };
}

async function listAllTools(upstream: Upstream): Promise<Tool[]> {
  const all: Tool[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    // Page by page with an explicit cursor: the SDK client's response cache is never consulted, so
    // every refresh sees what the server lists now.
    const result = await upstream.client.request({ method: "tools/list", params: cursor === undefined ? {} : { cursor } }, { timeout: upstream.timeoutMs });
    all.push(...result.tools);
    cursor = result.nextCursor;
    if (cursor === undefined) return all;
  }
  return all;
}

/**
 * The policy with the exposed unlisted tools added. Recompiled through `parsePolicy`, so the added
 * entries pass the same validation as a hand-written policy, and the digest (which approvals bind
 * to) covers them.
 */
function extendPolicy(policy: CompiledPolicy, added: Record<string, { risk: Risk; description: string }>): CompiledPolicy {
  const file = JSON.parse(JSON.stringify(policy.file)) as PolicyFile;
  for (const [name, { risk, description }] of Object.entries(added)) file.tools[name] = { risk, description };
  return parsePolicy(JSON.stringify(file), `${policy.source} (with exposed MCP tools)`);
}

function summarise(findings: readonly PoisonFinding[]): string {
  const kinds = [...new Set(findings.map((f) => `${f.kind} in ${f.field}`))];
  return kinds.slice(0, 3).join("; ") + (kinds.length > 3 ? `; ${kinds.length - 3} more` : "");
}

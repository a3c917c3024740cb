import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { InMemoryTransport, Server } from "@modelcontextprotocol/server";
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectUpstreamTransport } from "../src/integrations/mcp/index.js";
import { everythingServer, postRpc, startHarness, startHttpHarness, textOf, type Harness } from "./mcp-helpers.js";

/** A scrubber stand-in that redacts one marker, so the test can see what passed the output filter. */
const MARKER = "SECRET-MARKER-7f3a";
const scrub = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value).replaceAll(MARKER, "[redacted]")));

const POLICY = `version: 1
agents: { dev: { owner: a@example.com, environment: development } }
tools:
  trigger-sampling-request: { risk: read-only }
  trigger-elicitation-request: { risk: read-only }
  get-roots-list: { risk: read-only }
  announce: { risk: read-only }
`;

describe("requests from an upstream (server-everything) to the client behind the gateway", () => {
  let h: Harness;
  let bare: Harness;
  const seen: { sampling: unknown[]; elicitation: unknown[] } = { sampling: [], elicitation: [] };
  beforeAll(async () => {
    h = await startHarness(POLICY, [everythingServer("everything", { clientRequests: ["sampling", "elicitation", "roots"] })], {
      scrub,
      clientCapabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } },
    });
    h.client.setRequestHandler(CreateMessageRequestSchema, (request) => {
      seen.sampling.push(request.params);
      return { model: "test-model", role: "assistant", content: { type: "text", text: "the model's answer" } };
    });
    h.client.setRequestHandler(ElicitRequestSchema, (request) => {
      seen.elicitation.push(request.params);
      return { action: "decline" };
    });
    h.client.setRequestHandler(ListRootsRequestSchema, () => ({ roots: [{ uri: "file:///srv/project", name: "project" }] }));
    bare = await startHarness(POLICY, [everythingServer("everything", { clientRequests: ["sampling", "elicitation", "roots"] })]);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
    await bare?.close();
  });

  it("forwards sampling/createMessage to a client that supports sampling, through the output filter", async () => {
    const result = await h.client.callTool({ name: "trigger-sampling-request", arguments: { prompt: `summarise ${MARKER}`, maxTokens: 20 } });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain("the model's answer");
    expect(JSON.stringify(seen.sampling)).toContain("summarise [redacted]");
    expect(JSON.stringify(seen.sampling)).not.toContain(MARKER);
    expect(h.logs.some((l) => l.includes("forwarding sampling/createMessage from upstream `everything`"))).toBe(true);
    // Recorded as a decision and an outcome of the pseudo-tool, with sizes and digests, not the text.
    const recorded = h.events().filter((e) => e.tool === "everything__sampling/createMessage");
    expect(recorded.map((e) => [e.type, e.decision?.verdict ?? e.outcome?.status])).toEqual([
      ["decision", "allow"],
      ["outcome", "ok"],
    ]);
    expect(recorded[0]).toMatchObject({
      agent: "dev",
      args: { server: "everything", method: "sampling/createMessage", request: { maxTokens: 20, messages: 1, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) } },
      decision: { code: "allowed-by-rule", rules: ["mcp.servers.everything.clientRequests.sampling"] },
    });
    expect(recorded[1]?.outcome?.result).toMatchObject({ bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.stringify(recorded)).not.toMatch(/summarise|the model's answer/);
  });

  it("forwards elicitation/create and returns the client's answer to the upstream", async () => {
    const result = await h.client.callTool({ name: "trigger-elicitation-request", arguments: {} });
    expect(seen.elicitation).toHaveLength(1);
    expect(textOf(result)).toMatch(/decline/i);
  });

  it("forwards roots/list during a call", async () => {
    const result = await h.client.callTool({ name: "get-roots-list", arguments: {} });
    expect(textOf(result)).toContain("file:///srv/project");
  });

  it("refuses them cleanly for a client that did not declare the capability", async () => {
    const result = await bare.client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toContain("Gatehouse refused sampling/createMessage: the client does not support sampling/createMessage");
  });

  it("forwards them to a 2026-07-28 client as `input_required` results, and the client's retry resumes the call", async () => {
    const http = await startHttpHarness(POLICY, [everythingServer("everything", { clientRequests: ["sampling", "elicitation"] })], { scrub });
    const sampled: unknown[] = [];
    const modern = new Client({ name: "modern", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } }, capabilities: { sampling: {}, elicitation: {} } });
    modern.setRequestHandler("sampling/createMessage", (request) => {
      sampled.push(request.params);
      return { model: "modern-model", role: "assistant", content: { type: "text", text: "answer from the modern client" } };
    });
    modern.setRequestHandler("elicitation/create", () => ({ action: "decline" }));
    const without = new Client({ name: "modern-bare", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await modern.connect(new StreamableHTTPClientTransport(http.url));
    await without.connect(new StreamableHTTPClientTransport(http.url));
    try {
      const result = await modern.callTool({ name: "trigger-sampling-request", arguments: { prompt: `modern ${MARKER}`, maxTokens: 5 } });
      expect(result.isError).toBeFalsy();
      expect(textOf(result)).toContain("answer from the modern client");
      expect(JSON.stringify(sampled)).toContain("modern [redacted]");
      expect(textOf(await modern.callTool({ name: "trigger-elicitation-request", arguments: {} }))).toMatch(/decline/i);
      // One decision and one outcome for the call, however many rounds it took.
      const decisions = http.events().filter((e) => e.tool === "trigger-sampling-request");
      expect(decisions.map((e) => e.type)).toEqual(["decision", "outcome"]);

      // A 2026-07-28 client that did not declare sampling is refused, as a 2025 one would be.
      const refused = await without.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
      expect(refused.isError).toBe(true);
      expect(textOf(refused)).toContain("the client does not support sampling/createMessage");
      // Each request of the upstream is recorded: forwarded (through input_required) or refused.
      expect(http.events().filter((e) => e.tool === "everything__sampling/createMessage").map((e) => e.decision?.code ?? e.outcome?.status)).toEqual([
        "allowed-by-rule",
        "ok",
        "client-request-undeliverable",
      ]);

      // A retry naming a call that is not in progress is refused, not run.
      const forged = await postRpc(http.url, {
        jsonrpc: "2.0",
        id: 9,
        method: "tools/call",
        params: {
          name: "trigger-sampling-request",
          arguments: { prompt: "x", maxTokens: 5 },
          requestState: "gatehouse-call:00000000-0000-4000-8000-000000000000",
          _meta: {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
            "io.modelcontextprotocol/clientCapabilities": { sampling: {} },
          },
        },
      }, { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "trigger-sampling-request" });
      expect(JSON.stringify(forged.body)).toMatch(/names no call/);
    } finally {
      await modern.close();
      await without.close();
      await http.close();
    }
  }, 60_000);
});

describe("a suspended 2026-07-28 call whose client never retries", () => {
  it("is cancelled after the upstream's timeout, and its outcome is recorded", async () => {
    const http = await startHttpHarness(POLICY, [everythingServer("everything", { timeoutMs: 400, clientRequests: ["sampling"] })]);
    const envelope = {
      "io.modelcontextprotocol/protocolVersion": "2026-07-28",
      "io.modelcontextprotocol/clientInfo": { name: "raw", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": { sampling: {} },
    };
    try {
      const first = await postRpc(
        http.url,
        { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "trigger-sampling-request", arguments: { prompt: "wait", maxTokens: 5 }, _meta: envelope } },
        { "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "trigger-sampling-request" },
      );
      const result = (first.body as { result?: { resultType?: string; requestState?: string; inputRequests?: Record<string, { method: string }> } }).result;
      expect(result?.resultType).toBe("input_required");
      expect(Object.values(result?.inputRequests ?? {}).map((r) => r.method)).toEqual(["sampling/createMessage"]);
      expect(result?.requestState).toMatch(/^gatehouse-call:/);
      // The upstream request's own timeout and the suspension's expiry are both 400 ms: wait for both.
      const done = () => http.events().some((e) => e.type === "outcome" && e.tool === "trigger-sampling-request") && http.logs.some((l) => l.includes("waited 400 ms"));
      for (let i = 0; i < 60 && !done(); i++) await new Promise((r) => setTimeout(r, 50));
      expect(http.events().find((e) => e.type === "outcome" && e.tool === "trigger-sampling-request")).toMatchObject({ outcome: { status: "error" } });
      expect(http.logs.some((l) => l.includes("waited 400 ms for the client's answer"))).toBe(true);
    } finally {
      await http.close();
    }
  }, 60_000);
});

describe("notifications and progress from an upstream pass the output filter", () => {
  it("filters progress messages and non-`message` notifications before the client sees them", async () => {
    // An upstream built with the SDK's own Server, in-process, so it can say exactly what it likes.
    const upstreamServer = new Server({ name: "chatty", version: "1.0.0" }, { capabilities: { tools: {}, resources: {} } });
    upstreamServer.setRequestHandler("tools/list", () => ({ tools: [{ name: "announce", inputSchema: { type: "object" } }] }));
    upstreamServer.setRequestHandler("tools/call", async (request, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      if (token !== undefined) await ctx.mcpReq.notify({ method: "notifications/progress", params: { progressToken: token, progress: 1, total: 2, message: `copied ${MARKER}` } });
      await upstreamServer.notification({ method: "notifications/resources/updated", params: { uri: `file:///tmp/${MARKER}` } });
      await upstreamServer.notification({ method: "notifications/example/custom", params: { note: `hello ${MARKER}` } });
      return { content: [{ type: "text", text: `done ${request.params.name}` }] };
    });
    const h = await startHarness(POLICY, [{ name: "chatty", command: "in-process" }], {
      scrub,
      connect: async (config, events) => {
        const [near, far] = InMemoryTransport.createLinkedPair();
        await upstreamServer.connect(far);
        return connectUpstreamTransport(config.name, "in-process", near, events);
      },
    });
    const notifications: unknown[] = [];
    h.client.fallbackNotificationHandler = (notification) => {
      notifications.push(notification);
      return Promise.resolve();
    };
    const progress: unknown[] = [];
    try {
      const result = await h.client.callTool({ name: "announce", arguments: {} }, undefined, { onprogress: (p) => progress.push(p) });
      expect(textOf(result)).toBe("done announce");
      for (let i = 0; i < 50 && notifications.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      expect(progress).toEqual([expect.objectContaining({ progress: 1, message: "copied [redacted]" })]);
      expect(notifications).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ method: "notifications/resources/updated", params: { uri: "file:///tmp/[redacted]" } }),
          expect.objectContaining({ method: "notifications/example/custom", params: { note: "hello [redacted]" } }),
        ]),
      );
      expect(JSON.stringify([progress, notifications])).not.toContain(MARKER);
    } finally {
      await h.close();
      await upstreamServer.close();
    }
  });
});

describe("a real upstream (server-everything) whose `clientRequests` is empty", () => {
  it("is not told that the client can sample, elicit or list roots, so it does not offer the tools that would", async () => {
    const policy = `${POLICY}  echo: { risk: read-only }\n`;
    const h = await startHarness(policy, [everythingServer("everything")], { clientCapabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } });
    try {
      const { tools } = await h.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(["echo"]);
      // Calling one anyway: the server does not know it.
      const result = await h.client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
      expect(result.isError).toBe(true);
    } finally {
      await h.close();
    }
  }, 60_000);
});

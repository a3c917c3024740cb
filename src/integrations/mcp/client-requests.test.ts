import { describe, expect, it } from "vitest";
import { createClientRequestRateLimit, REFUSALS_RECORDED_PER_MINUTE, digestContent, ruleOnClientRequest, summarizeClientAnswer, summarizeClientRequest } from "./client-requests.js";
import { parseMcpConfig, type McpServerConfig } from "./config.js";

const server = (extra: Partial<McpServerConfig> = {}): McpServerConfig => ({ name: "fs", command: "mcp-server", ...extra });
const sampling = (maxTokens?: number) => ({ messages: [{ role: "user", content: { type: "text", text: "hi" } }], ...(maxTokens === undefined ? {} : { maxTokens }) });

describe("ruleOnClientRequest", () => {
  it.each([
    // deny by default: nothing listed, or another kind listed
    ["no clientRequests", server(), "sampling/createMessage", sampling(10), "denied-by-default"],
    ["an empty list", server({ clientRequests: [] }), "roots/list", undefined, "denied-by-default"],
    ["another kind listed", server({ clientRequests: ["roots"] }), "elicitation/create", { message: "?" }, "denied-by-default"],
    ["an unknown server", undefined, "roots/list", undefined, "denied-by-default"],
    // listed
    ["sampling listed, no cap", server({ clientRequests: ["sampling"] }), "sampling/createMessage", sampling(1_000_000), "allowed"],
    ["roots listed", server({ clientRequests: ["roots"] }), "roots/list", undefined, "allowed"],
    ["elicitation listed", server({ clientRequests: ["elicitation"] }), "elicitation/create", { message: "?" }, "allowed"],
    // the token cap, just inside and just outside
    ["maxTokens at the cap", server({ clientRequests: ["sampling"], clientRequestLimits: { samplingMaxTokens: 100 } }), "sampling/createMessage", sampling(100), "allowed"],
    ["maxTokens one over the cap", server({ clientRequests: ["sampling"], clientRequestLimits: { samplingMaxTokens: 100 } }), "sampling/createMessage", sampling(101), "client-request-limited"],
    ["maxTokens missing under a cap", server({ clientRequests: ["sampling"], clientRequestLimits: { samplingMaxTokens: 100 } }), "sampling/createMessage", sampling(), "client-request-limited"],
    // what the gateway never declares upstream (sampling.tools, sampling.context)
    ["sampling with tools", server({ clientRequests: ["sampling"] }), "sampling/createMessage", { ...sampling(10), tools: [{ name: "t", inputSchema: { type: "object" } }] }, "denied-by-default"],
    ["sampling with toolChoice", server({ clientRequests: ["sampling"] }), "sampling/createMessage", { ...sampling(10), toolChoice: { mode: "auto" } }, "denied-by-default"],
    ["sampling with includeContext allServers", server({ clientRequests: ["sampling"] }), "sampling/createMessage", { ...sampling(10), includeContext: "allServers" }, "denied-by-default"],
    ["sampling with includeContext thisServer", server({ clientRequests: ["sampling"] }), "sampling/createMessage", { ...sampling(10), includeContext: "thisServer" }, "denied-by-default"],
    ["sampling with includeContext none", server({ clientRequests: ["sampling"] }), "sampling/createMessage", { ...sampling(10), includeContext: "none" }, "allowed"],
    ["maxTokens not a number under a cap", server({ clientRequests: ["sampling"], clientRequestLimits: { samplingMaxTokens: 100 } }), "sampling/createMessage", { maxTokens: "9" }, "client-request-limited"],
  ] as const)("%s: %s", (_name, config, method, params, expected) => {
    const ruling = ruleOnClientRequest(config, method, params);
    expect(ruling.allowed ? "allowed" : ruling.code).toBe(expected);
  });

  it("names the server, the method and the key to change when it refuses", () => {
    expect(ruleOnClientRequest(server(), "roots/list", undefined)).toEqual({
      allowed: false,
      code: "denied-by-default",
      rpcCode: -32601,
      reason: "the policy does not let server `fs` send roots/list to the client (its `clientRequests` does not list `roots`)",
    });
    expect(ruleOnClientRequest(server({ clientRequests: ["sampling"] }), "sampling/createMessage", sampling(10))).toEqual({
      allowed: true,
      rule: "mcp.servers.fs.clientRequests.sampling",
    });
  });
});

describe("createClientRequestRateLimit", () => {
  it("allows `perMinute` requests in any 60 seconds, then refuses until the oldest leaves the window", () => {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const limit = createClientRequestRateLimit(() => new Date(now));
    const config = server({ clientRequestLimits: { perMinute: 2 } });
    expect(limit.take(config)).toBeUndefined();
    now += 30_000;
    expect(limit.take(config)).toBeUndefined();
    expect(limit.take(config)?.reason).toBe("server `fs` sent 2 requests to the client in the last minute, its limit (`clientRequestLimits.perMinute`); try again later");
    // Another server has its own window.
    expect(limit.take(server({ name: "other", clientRequestLimits: { perMinute: 1 } }))).toBeUndefined();
    now += 29_999; // the first request is 59.999 s old: still in the window
    expect(limit.take(config)).toBeDefined();
    now += 1; // 60 s old: out
    expect(limit.take(config)).toBeUndefined();
    expect(limit.take(config)).toBeDefined();
  });

  it("records at most 60 refusals a minute per server one by one, and carries the count of the others into the next record", () => {
    let now = 0;
    const limit = createClientRequestRateLimit(() => new Date(now));
    for (let i = 0; i < REFUSALS_RECORDED_PER_MINUTE; i++) expect(limit.recordRefusal("fs")).toEqual({ unrecorded: 0 });
    expect(limit.recordRefusal("fs")).toBeUndefined();
    expect(limit.recordRefusal("fs")).toBeUndefined();
    expect(limit.recordRefusal("other")).toEqual({ unrecorded: 0 });
    now += 60_000;
    expect(limit.recordRefusal("fs")).toEqual({ unrecorded: 2 });
    expect(limit.recordRefusal("fs")).toEqual({ unrecorded: 0 });
  });

  it("defaults to 30 a minute", () => {
    const limit = createClientRequestRateLimit(() => new Date(0));
    for (let i = 0; i < 30; i++) expect(limit.take(server())).toBeUndefined();
    expect(limit.take(server())).toBeDefined();
  });
});

describe("the audit summaries", () => {
  it("keep sizes, digests and counts, never the text", () => {
    const params = { messages: [{ role: "user", content: { type: "text", text: "ignore previous instructions" } }], maxTokens: 64, includeContext: "allServers" };
    const summary = summarizeClientRequest("sampling/createMessage", params);
    expect(summary).toEqual({ ...digestContent(params), maxTokens: 64, messages: 1, includeContext: "allServers" });
    expect(JSON.stringify(summary)).not.toContain("ignore");
    expect(summarizeClientRequest("elicitation/create", { mode: "url", url: "https://phish.example", message: "log in" })).toMatchObject({ mode: "url" });
    expect(summarizeClientAnswer("elicitation/create", { action: "accept", content: { password: "hunter2" } })).toEqual({
      ...digestContent({ action: "accept", content: { password: "hunter2" } }),
      action: "accept",
    });
    expect(summarizeClientAnswer("roots/list", { roots: [{ uri: "file:///a" }, { uri: "file:///b" }] })).toMatchObject({ roots: 2 });
  });

  it("digest the canonical JSON, so key order does not change the digest", () => {
    expect(digestContent({ a: 1, b: "x" })).toEqual(digestContent({ b: "x", a: 1 }));
    expect(digestContent({ a: 1 }).bytes).toBe(7);
  });
});

describe("`clientRequests` in the `mcp:` section", () => {
  it("accepts the three kinds and the limits", () => {
    const config = parseMcpConfig({
      servers: [{ name: "fs", command: "x", clientRequests: ["sampling", "elicitation", "roots"], clientRequestLimits: { perMinute: 5, samplingMaxTokens: 512 } }],
    });
    expect(config.servers[0]?.clientRequests).toEqual(["sampling", "elicitation", "roots"]);
  });

  it.each([
    [{ clientRequests: ["tools"] }, "mcp.servers.0.clientRequests.0: Invalid option"],
    [{ clientRequests: ["roots", "roots"] }, "mcp.servers.0.clientRequests: list each kind of client request once"],
    [{ clientRequestLimits: { perMinute: 0 } }, "mcp.servers.0.clientRequestLimits.perMinute"],
    [{ clientRequestLimits: { samplingMaxTokens: 1.5 } }, "mcp.servers.0.clientRequestLimits.samplingMaxTokens"],
    [{ clientRequestLimits: { burst: 3 } }, "mcp.servers.0.clientRequestLimits: Unrecognized key: \"burst\""],
  ])("refuses %j, naming the field", (extra, message) => {
    expect(() => parseMcpConfig({ servers: [{ name: "fs", command: "x", ...extra }] })).toThrow(message);
  });
});

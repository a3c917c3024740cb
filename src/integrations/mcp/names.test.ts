import { describe, expect, it } from "vitest";
import { seedRiskFromAnnotations } from "./annotations.js";
import { parseMcpConfig } from "./config.js";
import { McpGatewayError } from "./errors.js";
import { exposedToolName, refuseRequestedName } from "./names.js";

describe("namespacing", () => {
  it.each([
    ["fs", "read_file", true, "fs__read_file"],
    ["fs", "read_file", false, "read_file"],
    ["every-thing", "get-sum", true, "every-thing__get-sum"],
  ])("serves %s's `%s` (namespace %s) as `%s`", (server, tool, namespace, name) => {
    expect(exposedToolName(server, tool, namespace)).toEqual({ name });
  });

  it.each([
    ["a tool whose name holds the separator", "other__delete", true],
    ["a tool name with spaces", "rm -rf", false],
    ["a tool name with a newline", "a\nb", false],
    ["an overlong name", "x".repeat(200), false],
    ["a tool named like a gateway action", "resources/read", false],
    ["a namespaced tool named like a gateway action", "prompts/get", true],
    ["a tool name with a slash", "a/b", false],
  ])("refuses %s", (_name, tool, namespace) => {
    expect(exposedToolName("fs", tool, namespace)).toHaveProperty("refusal");
  });

  it.each([
    ["fs__read_file", true, undefined],
    ["read_file", false, undefined],
    ["fs__other__read_file", true, /second namespace separator/],
    ["fs___read_file", true, /second namespace separator/],
    ["__read_file", true, /no server part/],
    ["read_file", true, /no server part/],
    ["fs__read file", true, /not a valid tool name/],
  ])("checks the requested name `%s` (namespace %s)", (name, namespace, refusal) => {
    const result = refuseRequestedName(name, namespace);
    if (refusal === undefined) expect(result).toBeUndefined();
    else expect(result).toMatch(refusal);
  });
});

describe("seedRiskFromAnnotations", () => {
  it.each([
    [undefined, "high-risk-write"],
    [{}, "high-risk-write"],
    [{ readOnlyHint: true }, "read-only"],
    [{ readOnlyHint: true, openWorldHint: true }, "read-only"],
    [{ destructiveHint: false, idempotentHint: true }, "low-risk-write"],
    [{ destructiveHint: false, openWorldHint: false }, "low-risk-write"],
    [{ destructiveHint: false }, "high-risk-write"],
    [{ destructiveHint: false, idempotentHint: false, openWorldHint: true }, "high-risk-write"],
    [{ destructiveHint: true, idempotentHint: true, openWorldHint: false }, "high-risk-write"],
    [{ readOnlyHint: false, destructiveHint: true }, "high-risk-write"],
  ])("seeds %j as %s", (hints, risk) => {
    expect(seedRiskFromAnnotations(hints).risk).toBe(risk);
  });
});

describe("the `mcp:` section", () => {
  it("accepts stdio and URL servers", () => {
    const config = parseMcpConfig({
      servers: [
        { name: "fs", command: "mcp-server-filesystem", args: ["/srv"], env: ["HOME_TOKEN"] },
        { name: "remote", url: "https://mcp.example.com/mcp", transport: "sse", exposeUnlisted: true },
      ],
    });
    expect(config.servers.map((s) => s.name)).toEqual(["fs", "remote"]);
  });

  it.each([
    ["a server name with the separator", { servers: [{ name: "a__b", command: "x" }] }, /servers\.0\.name/],
    ["both command and url", { servers: [{ name: "a", command: "x", url: "http://127.0.0.1/mcp" }] }, /exactly one of/],
    ["neither command nor url", { servers: [{ name: "a" }] }, /exactly one of/],
    ["an unknown key", { servers: [{ name: "a", command: "x", shell: true }] }, /shell/],
    ["duplicate names", { servers: [{ name: "a", command: "x" }, { name: "a", command: "y" }] }, /unique/],
    ["a transport without url", { servers: [{ name: "a", command: "x", transport: "sse" }] }, /transport/],
    ["a non-HTTP URL", { servers: [{ name: "a", url: "file:///etc/passwd" }] }, /url/],
    ["a bad env name", { servers: [{ name: "a", command: "x", env: ["A=B"] }] }, /env/],
    ["no servers", { servers: [] }, /servers/],
  ])("refuses %s, naming the field", (_name, value, message) => {
    let error: unknown;
    try {
      parseMcpConfig(value);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(McpGatewayError);
    expect((error as McpGatewayError).code).toBe("mcp-config-invalid");
    expect((error as McpGatewayError).message).toMatch(message);
  });
});

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { filesystemPolicy, filesystemServer, startHarness, tempDir, textOf, writeFile, type Harness } from "./mcp-helpers.js";

describe("the MCP gateway in front of @modelcontextprotocol/server-filesystem", () => {
  let allowed: string;
  let outside: string;
  let h: Harness;

  beforeAll(async () => {
    allowed = tempDir("gh-mcp-allowed-");
    outside = tempDir("gh-mcp-outside-");
    writeFile(join(allowed, "notes.txt"), "hello from the allowed directory\n");
    writeFile(join(outside, "secret.txt"), "outside\n");
    mkdirSync(join(allowed, "sub"));
    // The filesystem server itself may reach both directories: the gateway's policy is what confines the agent.
    h = await startHarness(filesystemPolicy(allowed), [{ ...filesystemServer("fs", allowed), args: [...filesystemServer("fs", allowed).args!, outside] }]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("lists only the tools the policy lists", async () => {
    const { tools } = await h.client.listTools();
    const names = tools.map((t) => t.name).sort();
    expect(names).toEqual(["create_directory", "list_directory", "move_file", "read_text_file", "write_file"]);
  });

  it("forwards an allowed read and records decision and outcome", async () => {
    const result = await h.client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "notes.txt") } });
    expect(result.isError).toBeFalsy();
    expect(textOf(result)).toContain("hello from the allowed directory");
    const events = h.events().filter((e) => e.tool === "read_text_file");
    expect(events.map((e) => e.type)).toEqual(["decision", "outcome"]);
    expect(events[0]!.decision?.verdict).toBe("allow");
    expect(events[1]!.outcome?.status).toBe("ok");
  });

  it("denies a write outside the allowed directory, and nothing is written", async () => {
    const target = join(outside, "planted.txt");
    const result = await h.client.callTool({ name: "write_file", arguments: { path: target, content: "x" } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/Gatehouse denied `write_file`/);
    expect(existsSync(target)).toBe(false);
  });

  it.each([
    ["a `..` climbing out", (a: string) => `${a}/../${"gh-mcp-outside"}/secret.txt`],
    ["a `..` from a subdirectory", (a: string) => `${a}/sub/../../../etc/passwd`],
    ["a relative path", () => "../../etc/passwd"],
    ["a NUL byte", (a: string) => `${a}/notes.txt\u0000/../../etc/passwd`],
  ])("denies a path traversal attempt: %s", async (_name, path) => {
    const result = await h.client.callTool({ name: "read_text_file", arguments: { path: path(allowed) } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/Gatehouse denied/);
    expect(textOf(result)).not.toContain("root:");
  });

  it("forwards the gate's normalised path, not the one the agent wrote", async () => {
    const result = await h.client.callTool({ name: "read_text_file", arguments: { path: `${allowed}/sub/../notes.txt` } });
    expect(textOf(result)).toContain("hello from the allowed directory");
  });

  it("answers a high-risk call with `awaits approval` and runs nothing", async () => {
    const result = await h.client.callTool({ name: "move_file", arguments: { source: join(allowed, "notes.txt"), destination: join(allowed, "moved.txt") } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/needs approval/);
    expect(existsSync(join(allowed, "notes.txt"))).toBe(true);
  });

  it("answers a dry-run decision without forwarding", async () => {
    const result = await h.client.callTool({ name: "create_directory", arguments: { path: join(allowed, "newdir") } });
    expect(textOf(result)).toMatch(/was not run: the policy asks for a dry run/);
    expect(existsSync(join(allowed, "newdir"))).toBe(false);
    expect(h.events().some((e) => e.tool === "create_directory" && e.outcome?.status === "dry-run")).toBe(true);
  });

  it("denies a tool the server has but the policy does not list", async () => {
    const result = await h.client.callTool({ name: "read_multiple_files", arguments: { paths: [join(allowed, "notes.txt")] } });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/not listed/);
  });

  it.each([
    ["a string", "read this"],
    ["an array", [1, 2]],
    ["a number", 42],
  ])("answers arguments that are %s with a JSON-RPC invalid-params error, and stays up", async (_name, args) => {
    const error = await h.client
      .request({ method: "tools/call", params: { name: "read_text_file", arguments: args as never } }, (await import("@modelcontextprotocol/sdk/types.js")).CallToolResultSchema)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(McpError);
    expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
    expect((await h.client.listTools()).tools.length).toBe(5);
  });

  it("answers an unknown method with method-not-found", async () => {
    const { EmptyResultSchema } = await import("@modelcontextprotocol/sdk/types.js");
    const error = await h.client.request({ method: "tools/explode", params: {} }, EmptyResultSchema).catch((e: unknown) => e);
    expect((error as McpError).code).toBe(ErrorCode.MethodNotFound);
  });

  it("passes outputs through the output filter before recording and returning them", async () => {
    const key = "ghp_" + "R4nd0mT0k3nV4lu3Xq9Zk2Lm8Np5Qs7Tv1Wy3";
    writeFile(join(allowed, "creds.txt"), `aws_access_key_id = ${key}\n`);
    const { createScrubber } = await import("../src/secrets/index.js");
    const scrubber = createScrubber();
    const scrubbed = await startHarness(filesystemPolicy(allowed), [filesystemServer("fs", allowed)], { scrub: (v) => scrubber.scrubValue(v) });
    try {
      const result = await scrubbed.client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "creds.txt") } });
      expect(textOf(result)).not.toContain(key);
      expect(JSON.stringify(scrubbed.events())).not.toContain(key);
    } finally {
      await scrubbed.close();
    }
    expect(readFileSync(join(allowed, "creds.txt"), "utf8")).toContain(key);
  });
});

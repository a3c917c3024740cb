import { spawn, execFile, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client as V2Client } from "@modelcontextprotocol/client";
import { StdioClientTransport as V2StdioClientTransport } from "@modelcontextprotocol/client/stdio";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSigningKey, writeKeyFiles } from "../src/audit/index.js";
import { runCli } from "../src/cli/program.js";
import { EVERYTHING_SERVER, FILESYSTEM_SERVER, GATEHOUSE_CLI, fixtureServer, root, startHarness, tempDir, writeFile } from "./mcp-helpers.js";

const run = promisify(execFile);
/** The MCP Inspector's own launcher (the `mcp-inspector` bin that `npx @modelcontextprotocol/inspector` runs). */
const INSPECTOR = join(root, "node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js");

/** Runs the Inspector CLI; a tool result with `isError` makes it exit non-zero after printing the result. */
/** The bearer token the HTTP gateway demands (`GATEHOUSE_MCP_TOKEN`). */
const AGENT_TOKEN = "test-agent-token-0123456789abcdef";

async function inspector(args: string[]): Promise<unknown> {
  let stdout: string;
  try {
    ({ stdout } = await run(process.execPath, [INSPECTOR, "--cli", ...args], { cwd: root, timeout: 60_000, maxBuffer: 10 * 1024 * 1024 }));
  } catch (error) {
    stdout = (error as { stdout?: string }).stdout ?? "";
    if (!stdout.includes('"isError": true')) throw error;
  }
  return JSON.parse(stdout.slice(0, stdout.lastIndexOf("}") + 1)) as unknown;
}

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await runCli(argv, { out: (t) => void (out += t.endsWith("\n") ? t : `${t}\n`), err: (t) => void (err += t.endsWith("\n") ? t : `${t}\n`) });
  return { code, out, err };
}

function policyFor(allowed: string): string {
  return `version: 1
agents: { dev: { owner: dev@example.com, environment: development } }
tools:
  read_text_file: { risk: read-only, args: { type: object, required: [path], properties: { path: { type: string, pathPrefix: ${allowed} } } } }
  write_file: { risk: low-risk-write, args: { type: object, required: [path, content], properties: { path: { type: string, pathPrefix: ${allowed} }, content: { type: string } } } }
`;
}

describe("`gatehouse mcp` with the MCP Inspector CLI as the client and server-filesystem upstream", () => {
  let dir: string;
  let allowed: string;
  let outside: string;
  let policyFile: string;
  let dataDir: string;
  let gateway: ChildProcess | undefined;
  let url: string;

  beforeAll(async () => {
    dir = tempDir("gh-mcp-cli-");
    allowed = join(dir, "allowed");
    outside = join(dir, "outside");
    mkdirSync(allowed);
    mkdirSync(outside);
    writeFile(join(allowed, "hello.txt"), "hello through the gateway\n");
    policyFile = writeFile(join(dir, "gatehouse.yaml"), policyFor(allowed));
    dataDir = join(dir, "data");
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = dir;
    dataDir = join(dir, "gatehouse");
    expect((await cli(["audit", "keygen", "--name", "test/mcp"])).code).toBe(0);
    if (saved === undefined) delete process.env.XDG_DATA_HOME;
    else process.env.XDG_DATA_HOME = saved;

    // One gateway served over Streamable HTTP; several Inspector invocations talk to it.
    gateway = spawn(process.execPath, ["--import", "tsx", GATEHOUSE_CLI, "mcp", "--policy", policyFile, "--data-dir", dataDir, "--http", "0", "--", process.execPath, FILESYSTEM_SERVER, allowed, outside], {
      cwd: root,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, GATEHOUSE_MCP_TOKEN: AGENT_TOKEN },
    });
    url = await new Promise<string>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`gateway did not start: ${seen}`)), 45_000);
      gateway!.stderr!.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /listening on (http:\/\/\S+)/.exec(seen);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
  });
  afterAll(() => {
    gateway?.kill("SIGTERM");
  });

  it("lists only the policy's tools (stdio: the drop-in `mcpServers` entry)", async () => {
    const listed = (await inspector([
      "--method",
      "tools/list",
      "--",
      process.execPath,
      "--import",
      "tsx",
      GATEHOUSE_CLI,
      "mcp",
      "--policy",
      policyFile,
      "--data-dir",
      dataDir,
      "--",
      process.execPath,
      FILESYSTEM_SERVER,
      allowed,
      outside, // the same command line as the HTTP gateway's: pins hold to a server's source
    ])) as { tools: { name: string }[] };
    expect(listed.tools.map((t) => t.name).sort()).toEqual(["read_text_file", "write_file"]);
  });

  it("forwards an allowed read (Streamable HTTP)", async () => {
    const result = (await inspector([url, "--header", `Authorization: Bearer ${AGENT_TOKEN}`, "--method", "tools/call", "--tool-name", "read_text_file", "--tool-arg", `path=${join(allowed, "hello.txt")}`])) as { content: { text: string }[] };
    expect(result.content[0]!.text).toContain("hello through the gateway");
  });

  it("denies a write outside the allowed directory, and a path traversal", async () => {
    const write = (await inspector([url, "--header", `Authorization: Bearer ${AGENT_TOKEN}`, "--method", "tools/call", "--tool-name", "write_file", "--tool-arg", `path=${join(outside, "x.txt")}`, "content=pwned"])) as {
      isError: boolean;
      content: { text: string }[];
    };
    expect(write.isError).toBe(true);
    expect(write.content[0]!.text).toMatch(/Gatehouse denied `write_file`/);
    expect(existsSync(join(outside, "x.txt"))).toBe(false);
    const traversal = (await inspector([url, "--header", `Authorization: Bearer ${AGENT_TOKEN}`, "--method", "tools/call", "--tool-name", "read_text_file", "--tool-arg", `path=${allowed}/../outside/../../../etc/passwd`])) as {
      isError: boolean;
      content: { text: string }[];
    };
    expect(traversal.isError).toBe(true);
    expect(traversal.content[0]!.text).not.toContain("root:");
  });

  it("records the calls in the durable audit log", async () => {
    const { code, out } = await cli(["audit", "verify", "--db", join(dataDir, "audit.db"), "--key", join(dataDir, "audit.key.pub"), "--json"]);
    expect(code).toBe(0);
    expect(out).toMatch(/"ok":\s*true|intact/);
  });
});

describe("`gatehouse mcp pins list|approve`", () => {
  it("lists a flagged tool and approves it, after which the gateway serves it", async () => {
    const pinsDir = tempDir("gh-mcp-pins-cli-");
    const pinsFile = join(pinsDir, "pins.json");
    const pinData = join(pinsDir, "data");
    writeKeyFiles(join(pinData, "audit.key"), generateSigningKey("test/mcp/pins"));
    const policy = `version: 1\nagents: { dev: { owner: a@example.com, environment: development } }\ntools: { get_weather: { risk: read-only }, add: { risk: read-only } }\n`;
    const env = { FIXTURE_MODE: "poisoned", FIXTURE_DESCRIPTION: "Adds two numbers" };
    const first = await startHarness(policy, [fixtureServer("fixture", env)], { pinsFile });
    await first.close();

    const listed = await cli(["mcp", "pins", "list", "--pins", pinsFile]);
    expect(listed.code).toBe(0);
    expect(listed.out).toMatch(/blocked\s+fixture\/get_weather \(flagged\)/);
    expect(listed.out).toMatch(/approved\s+fixture\/add/);
    const digest = /approve it with: gatehouse mcp pins approve fixture get_weather --digest ([0-9a-f]{64})/.exec(listed.out)?.[1];
    expect(digest).toBeTruthy();
    expect(listed.out).toMatch(/definition waiting: \{.*IMPORTANT/);
    // Invisible and bidirectional characters reach the reviewer escaped, never raw.
    expect(listed.out).not.toMatch(/[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]/);
    expect((await cli(["mcp", "pins", "approve", "fixture", "nope", "--digest", digest!, "--pins", pinsFile, "--data-dir", pinData])).code).toBe(1);
    expect((await cli(["mcp", "pins", "approve", "fixture", "get_weather", "--pins", pinsFile])).code).not.toBe(0);
    const wrong = await cli(["mcp", "pins", "approve", "fixture", "get_weather", "--digest", "0".repeat(64), "--pins", pinsFile, "--data-dir", pinData]);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/mcp-pin-mismatch/);
    expect((await cli(["mcp", "pins", "approve", "fixture", "get_weather", "--digest", digest!, "--pins", pinsFile, "--data-dir", join(pinsDir, "no-log")])).code).toBe(1);
    const approved = await cli(["mcp", "pins", "approve", "fixture", "get_weather", "--digest", digest!, "--pins", pinsFile, "--by", "alice", "--data-dir", pinData]);
    expect(approved.code).toBe(0);
    const trail = await cli(["audit", "export", "--db", join(pinData, "audit.db"), "--format", "jsonl"]);
    expect(trail.out).toContain(`"step":"approved"`);
    expect(trail.out).toContain(`"by":"alice"`);
    expect(trail.out).toContain("fixture__get_weather");

    const second = await startHarness(policy, [fixtureServer("fixture", env)], { pinsFile });
    try {
      expect((await second.client.listTools()).tools.map((t) => t.name)).toContain("get_weather");
    } finally {
      await second.close();
    }
  });

  it("refuses contradictory sources with a usage error", async () => {
    const { code, err } = await cli(["mcp", "--upstream", "http://127.0.0.1:1/mcp", "--", "node", "x.js"]);
    expect(code).toBe(2);
    expect(err).toMatch(/exactly one of/);
  });
});

describe("`gatehouse mcp --policy FILE` with the policy's own `mcp:` section, over stdio", () => {
  it("serves an SDK v2 client on 2026-07-28 and one on 2025-11-25 through the real command", async () => {
    const dir = tempDir("gh-mcp-cli-section-");
    const allowed = join(dir, "allowed");
    mkdirSync(allowed);
    writeFile(join(allowed, "note.txt"), "from the policy's section\n");
    const policyFile = writeFile(
      join(dir, "gatehouse.yaml"),
      `${policyFor(allowed)}mcp:\n  servers:\n    - { name: fs, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FILESYSTEM_SERVER)}, ${JSON.stringify(allowed)}] }\n`,
    );
    const dataDir = join(dir, "gatehouse");
    expect((await cli(["audit", "keygen", "--name", "test/mcp-section", "--out", join(dataDir, "audit.key")])).code).toBe(0);
    for (const [options, version] of [
      [{ versionNegotiation: { mode: { pin: "2026-07-28" } } }, "2026-07-28"],
      [{}, "2025-11-25"],
    ] as const) {
      const client = new V2Client({ name: "cli-client", version: "1.0.0" }, options);
      await client.connect(
        new V2StdioClientTransport({
          command: process.execPath,
          args: ["--import", "tsx", GATEHOUSE_CLI, "mcp", "--policy", policyFile, "--data-dir", dataDir],
          cwd: root,
          stderr: "ignore",
        }),
      );
      try {
        expect(client.getNegotiatedProtocolVersion()).toBe(version);
        expect((await client.listTools()).tools.map((t) => t.name).sort()).toEqual(["read_text_file", "write_file"]);
        const read = await client.callTool({ name: "read_text_file", arguments: { path: join(allowed, "note.txt") } });
        expect(JSON.stringify(read.content)).toContain("from the policy's section");
      } finally {
        await client.close();
      }
    }
  }, 90_000);
});

describe("`gatehouse mcp --client-requests`", () => {
  it("refuses a kind that does not exist, naming the flag's field (exit 2)", async () => {
    const dir = tempDir("gh-mcp-cli-kinds-");
    const policyFile = writeFile(join(dir, "gatehouse.yaml"), policyFor(dir));
    const { code, err } = await cli(["mcp", "--policy", policyFile, "--client-requests", "sampling", "tools", "--", process.execPath, FILESYSTEM_SERVER, dir]);
    expect(code).toBe(2);
    expect(err).toContain("flags.servers.0.clientRequests.1: Invalid option");
  });

  it("lets the wrapped server (server-everything) sample through the client, and records it", async () => {
    const dir = tempDir("gh-mcp-cli-sampling-");
    const policyFile = writeFile(
      join(dir, "gatehouse.yaml"),
      "version: 1\nagents: { dev: { owner: dev@example.com, environment: development } }\ntools:\n  trigger-sampling-request: { risk: read-only }\n",
    );
    const saved = process.env.XDG_DATA_HOME;
    process.env.XDG_DATA_HOME = dir;
    try {
      expect((await cli(["audit", "keygen", "--name", "test/mcp-sampling"])).code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.XDG_DATA_HOME;
      else process.env.XDG_DATA_HOME = saved;
    }
    const dataDir = join(dir, "gatehouse");
    const client = new V2Client({ name: "cli-client", version: "1.0.0" }, { capabilities: { sampling: {} } });
    client.setRequestHandler("sampling/createMessage", () => ({ model: "m", role: "assistant", content: { type: "text", text: "sampled through the gateway" } }));
    await client.connect(
      new V2StdioClientTransport({
        command: process.execPath,
        args: ["--import", "tsx", GATEHOUSE_CLI, "mcp", "--policy", policyFile, "--data-dir", dataDir, "--client-requests", "sampling", "--", process.execPath, EVERYTHING_SERVER, "stdio"],
        cwd: root,
        stderr: "ignore",
      }),
    );
    try {
      const result = await client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
      expect(JSON.stringify(result.content)).toContain("sampled through the gateway");
    } finally {
      await client.close();
    }
    const exported = await cli(["audit", "export", "--format", "jsonl", "--db", join(dataDir, "audit.db")]);
    expect(exported.err).toBe("");
    expect(exported.out).toContain('"tool":"upstream__sampling/createMessage"');
  }, 60_000);
});

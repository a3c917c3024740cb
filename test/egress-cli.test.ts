import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../src/cli/program.js";
import { startUpstream } from "./egress-helpers.js";

const run = promisify(execFile);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (t: string) => out.push(t), err: (t: string) => err.push(t) }, out, err };
}

describe("gatehouse egress (CLI)", () => {
  let dir: string;
  const key = randomBytes(32).toString("hex");
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "gatehouse-egress-cli-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("refuses a bad policy with exit 2 and every problem at file:line:col", async () => {
    const file = join(dir, "bad.yaml");
    await writeFile(file, "egress:\n  profiles:\n    dev:\n      allow:\n        - host: 1.2.3.4.5\n          bogus: true\n  agents:\n    coder: nope\n");
    const c = capture();
    process.env.GATEHOUSE_EGRESS_KEY = key;
    const code = await runCli(["egress", "--policy", file], c.io);
    expect(code).toBe(2);
    const text = c.err.join("\n");
    expect(text).toContain(`${file}:5:17 egress.profiles.dev.allow.0.host: host \`1.2.3.4.5\` is refused: it ends in a number but is not a valid IPv4 address`);
    expect(text).toMatch(/bad\.yaml:\d+:\d+ egress\.profiles\.dev\.allow\.0: Unrecognized key: "bogus"/);
    expect(text).toMatch(/bad\.yaml:8:\d+ egress\.agents\.coder: profile `nope` is not defined/);
  });

  it("needs a token key of 32 bytes and says how to make one", async () => {
    const c = capture();
    process.env.GATEHOUSE_EGRESS_KEY = "abcd";
    expect(await runCli(["egress", "token", "--agent", "a", "--run", "r"], c.io)).toBe(2);
    expect(c.err.join("\n")).toMatch(/at least 32 bytes[\s\S]*openssl rand -hex 32/);
  });

  it("runs as a process: serves allowed requests, refuses others, prints audit lines, stops on SIGTERM", async () => {
    const upstream = await startUpstream();
    const file = join(dir, "ok.yaml");
    await writeFile(file, `egress:\n  profiles:\n    dev:\n      allow:\n        - host: 127.0.0.1\n          ports: [${upstream.port}]\n          unsafeAllowAddresses: [127.0.0.1]\n  agents:\n    coder: dev\n`);
    const env = { ...process.env, GATEHOUSE_EGRESS_KEY: key };
    const token = (await run(process.execPath, ["--import", "tsx", "src/cli/main.ts", "egress", "token", "--agent", "coder", "--run", "cli-run"], { env })).stdout.trim();
    const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "egress", "--policy", file, "--listen", "127.0.0.1:0"], { env });
    let stdout = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => {
          stderr += c.toString();
          const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stderr);
          if (m) resolve(Number(m[1]));
        });
        child.on("exit", () => reject(new Error(stderr)));
      });
      const proxy = `http://coder:${token}@127.0.0.1:${port}`;
      const ok = await run("curl", ["-s", "--proxy", proxy, `http://127.0.0.1:${upstream.port}/cli`]);
      expect(JSON.parse(ok.stdout)).toMatchObject({ url: "/cli" });
      const refused = await run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--proxy", proxy, "http://127.0.0.2:80/"]);
      expect(refused.stdout).toBe("403");
      const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      expect(await exit).toBe(0);
      const events = stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; run?: string; decision?: { verdict: string } });
      expect(events.filter((e) => e.type === "decision").map((e) => e.decision?.verdict)).toEqual(["allow", "deny"]);
      expect(events.every((e) => e.run === "cli-run")).toBe(true);
    } finally {
      child.kill("SIGKILL");
      await upstream.close();
    }
  });
});

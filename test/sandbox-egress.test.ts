import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mintRunToken } from "../src/egress/index.js";
import { startDnsServer, startProxy, startUpstream, type TestProxy } from "./egress-helpers.js";
import { makeFixture, runIn, type Fixture } from "./sandbox-helpers.js";

/**
 * The networked profile against the real egress proxy (not a stand-in): the run's only way out is
 * the proxy, which knows the run by the token the sandbox presents, and decides by its allow-list.
 */
describe("a networked sandbox run through Gatehouse's egress proxy", () => {
  let fx: Fixture;
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let p: TestProxy;

  beforeAll(async () => {
    fx = makeFixture();
    dns = await startDnsServer({ "api.test": ["127.0.0.1"], "other.test": ["127.0.0.1"] });
    upstream = await startUpstream((req, res) => res.end(`upstream saw ${req.method} ${req.url}`));
    p = await startProxy(
      {
        profiles: { builder: { allow: [{ host: "api.test", ports: [upstream.port], unsafeAllowAddresses: ["127.0.0.1"] }] } },
        agents: { "ci-agent": "builder" },
      },
      { dnsPort: dns.port },
    );
  });
  afterAll(async () => {
    await p.close();
    await upstream.close();
    await dns.close();
    await fx.cleanup();
  });

  const fetchIn = (url: string) => [
    "python3",
    "-c",
    `import urllib.request, urllib.error\ntry:\n  print(urllib.request.urlopen('${url}', timeout=5).read().decode())\nexcept urllib.error.HTTPError as e:\n  print('HTTP', e.code)`,
  ];

  it("is known to the proxy by its run token: an allowed host answers, another is refused, and the run id is on the proxy's record", async () => {
    const runs: string[] = [];
    const sb = fx.sandbox(undefined, {
      proxy: { address: `127.0.0.1:${p.port}` },
      egressCredentials: (runId) => {
        runs.push(runId);
        return { agent: "ci-agent", token: mintRunToken(p.key, { agent: "ci-agent", run: runId, expiresAt: Date.now() + 60_000 }) };
      },
    });
    const allowed = await runIn(sb, fetchIn(`http://api.test:${upstream.port}/build-deps`), { cwd: fx.work, profile: "networked" });
    expect(allowed.stdout).toContain("upstream saw GET /build-deps");
    const refused = await runIn(sb, fetchIn(`http://other.test:${upstream.port}/exfil`), { cwd: fx.work, profile: "networked" });
    expect(refused.stdout).toContain("HTTP 403");
    expect(runs).toHaveLength(2);
    const recorded = JSON.stringify(p.audit.events());
    expect(recorded).toContain(runs[0]);
    expect(recorded).toContain(runs[1]);
  }, 60_000);

  it("without credentials, the proxy refuses the run (407): no anonymous way out", async () => {
    const sb = fx.sandbox(undefined, { proxy: { address: `127.0.0.1:${p.port}` } });
    const { stdout } = await runIn(sb, fetchIn(`http://api.test:${upstream.port}/x`), { cwd: fx.work, profile: "networked" });
    expect(stdout).toContain("HTTP 407");
  }, 60_000);
});

import { InMemoryTransport, Server } from "@modelcontextprotocol/server";
import { describe, expect, it } from "vitest";
import { connectUpstreamTransport } from "../src/integrations/mcp/index.js";
import { startHarness } from "./mcp-helpers.js";

const POLICY = `version: 1
agents: { dev: { owner: a@example.com, environment: development } }
tools:
  alpha: { risk: read-only }
  beta: { risk: read-only }
`;

describe("tool-list refreshes that overlap", () => {
  it("apply in the order they started: an older listing that finishes last never replaces a newer one", async () => {
    // An upstream built with the SDK's Server, in-process: its second listing is slow and stale,
    // its third fast and current (as when two `tools/list_changed` arrive back to back).
    let listings = 0;
    const upstream = new Server({ name: "flappy", version: "1.0.0" }, { capabilities: { tools: { listChanged: true } } });
    upstream.setRequestHandler("tools/list", async () => {
      listings++;
      if (listings === 2) {
        await new Promise((r) => setTimeout(r, 300));
        return { tools: [{ name: "alpha", inputSchema: { type: "object" as const } }] };
      }
      return { tools: [{ name: listings === 1 ? "alpha" : "beta", inputSchema: { type: "object" as const } }] };
    });
    const h = await startHarness(POLICY, [{ name: "flappy", command: "in-process" }], {
      connect: async (config, events) => {
        const [near, far] = InMemoryTransport.createLinkedPair();
        await upstream.connect(far);
        return connectUpstreamTransport(config.name, "in-process", near, events);
      },
    });
    try {
      expect([...h.gateway.catalog().tools.keys()]).toEqual(["alpha"]);
      const older = h.gateway.refresh();
      await new Promise((r) => setTimeout(r, 20));
      const newer = h.gateway.refresh();
      await Promise.all([older, newer]);
      expect(listings).toBe(3);
      expect([...h.gateway.catalog().tools.keys()]).toEqual(["beta"]);
      expect((await h.client.listTools()).tools.map((t) => t.name)).toEqual(["beta"]);
    } finally {
      await h.close();
      await upstream.close();
    }
  });
});

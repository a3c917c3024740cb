import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyAddress, EgressError, normalizeHost, parseAuthority, resolveAndCheck, resolverForServers } from "../src/egress/index.js";
import { startDnsServer, startProxy, startUpstream } from "./egress-helpers.js";

// Rows of address and expected class, grouped by the RFC that defines the range, with rows just
// inside and just outside each range (after smokescreen's TestClassifyAddr).
const ADDRESS_TABLE: readonly (readonly [string, string])[] = [
  // public
  ["8.8.8.8", "public"],
  ["1.1.1.1", "public"],
  ["93.184.216.34", "public"],
  ["2606:4700:4700::1111", "public"],
  // RFC 1122: unspecified and loopback
  ["0.0.0.0", "unspecified"],
  ["0.255.255.255", "unspecified"],
  ["1.0.0.0", "public"],
  ["127.0.0.1", "loopback"],
  ["127.255.255.254", "loopback"],
  ["126.255.255.255", "public"],
  ["128.0.0.0", "public"],
  ["::", "unspecified"],
  ["::1", "loopback"],
  // RFC 1918
  ["10.0.0.1", "private"],
  ["10.255.255.255", "private"],
  ["11.0.0.0", "public"],
  ["172.16.0.0", "private"],
  ["172.31.255.255", "private"],
  ["172.15.255.255", "public"],
  ["172.32.0.0", "public"],
  ["192.168.1.1", "private"],
  ["192.169.0.0", "public"],
  // RFC 6598 CGNAT
  ["100.64.0.0", "cgnat"],
  ["100.127.255.255", "cgnat"],
  ["100.63.255.255", "public"],
  ["100.128.0.0", "public"],
  // RFC 3927 link-local and cloud metadata
  ["169.254.0.1", "link_local"],
  ["169.254.169.254", "cloud_metadata"],
  ["169.254.170.2", "cloud_metadata"],
  ["100.100.100.200", "cloud_metadata"],
  ["192.0.0.192", "cloud_metadata"],
  ["168.63.129.16", "cloud_metadata"],
  ["fd00:ec2::254", "cloud_metadata"],
  // RFC 6890, RFC 5737, RFC 2544, RFC 7526
  ["192.0.0.8", "ietf_protocol"],
  ["192.0.2.1", "documentation"],
  ["198.51.100.7", "documentation"],
  ["203.0.113.9", "documentation"],
  ["198.18.0.1", "benchmarking"],
  ["198.19.255.255", "benchmarking"],
  ["198.20.0.0", "public"],
  ["192.88.99.1", "deprecated_6to4_relay"],
  // multicast, broadcast, reserved
  ["224.0.0.1", "multicast"],
  ["239.255.255.255", "multicast"],
  ["240.0.0.1", "reserved"],
  ["255.255.255.255", "broadcast"],
  // IPv6 special ranges
  ["fc00::1", "unique_local"],
  ["fdff:ffff::1", "unique_local"],
  ["fe80::1", "link_local"],
  ["febf::1", "link_local"],
  ["fec0::1", "site_local"],
  ["ff02::1", "multicast"],
  ["2001:db8::1", "documentation"],
  ["3fff::1", "documentation"],
  ["2001:2::1", "benchmarking"],
  ["100::1", "discard_only"],
  ["5f00::1", "srv6_sid"],
  ["4000::1", "not_global_unicast"],
  ["2001:20::1", "ietf_protocol_v6"],
  // IPv4-mapped (RFC 4291 §2.5.5.2): judged on the IPv4 inside
  ["::ffff:127.0.0.1", "ipv4_mapped_forbidden"],
  ["::ffff:7f00:1", "ipv4_mapped_forbidden"],
  ["::ffff:169.254.169.254", "ipv4_mapped_forbidden"],
  ["::ffff:10.1.2.3", "ipv4_mapped_forbidden"],
  ["::ffff:8.8.8.8", "public"],
  // IPv4-compatible (deprecated) and IPv4-translated
  ["::127.0.0.1", "ipv4_compatible"],
  ["::8.8.8.8", "ipv4_compatible"],
  ["::ffff:0:127.0.0.1", "ipv4_translated"],
  // NAT64 (RFC 6052, RFC 8215)
  ["64:ff9b::127.0.0.1", "nat64_forbidden"],
  ["64:ff9b::a9fe:a9fe", "nat64_forbidden"],
  ["64:ff9b::808:808", "public"],
  ["64:ff9b:1::1", "nat64_local"],
  // 6to4 (RFC 3056): IPv4 in bits 16-47
  ["2002:7f00:1::1", "sixtofour_forbidden"],
  ["2002:a9fe:a9fe::", "sixtofour_forbidden"],
  ["2002:c0a8:101::1", "sixtofour_forbidden"],
  ["2002:808:808::1", "public"],
  // Teredo (RFC 4380): server in bits 32-63, client inverted in bits 96-127
  ["2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo_forbidden"],
  ["2001:0:4136:e378:8000:63bf:f7f7:f7f7", "public"],
  ["2001:0:a00:1:8000:63bf:f7f7:f7f7", "teredo_forbidden"],
];

describe("classifyAddress: every special-purpose range, with rows just inside and outside", () => {
  it("has at least 60 rows", () => expect(ADDRESS_TABLE.length).toBeGreaterThanOrEqual(60));
  it.each(ADDRESS_TABLE)("%s is %s", (address, expected) => {
    const c = classifyAddress(address);
    expect(c.class).toBe(expected);
    expect(c.allowed).toBe(expected === "public");
    expect(c.metric).toBe(`egress.${expected === "public" ? "allow" : "deny"}.${expected}`);
    expect(c.sentence).toMatch(expected === "public" ? /^Allow: / : /^Deny: /);
  });
});

// Every spelling of an IP literal a client may send; each must normalise to the same address.
const SPELLINGS: readonly (readonly [string, string, string])[] = [
  ["2130706433", "127.0.0.1", "loopback"],
  ["0177.0.0.1", "127.0.0.1", "loopback"],
  ["0x7f.1", "127.0.0.1", "loopback"],
  ["0x7f000001", "127.0.0.1", "loopback"],
  ["017700000001", "127.0.0.1", "loopback"],
  ["127.1", "127.0.0.1", "loopback"],
  ["127.0.1", "127.0.0.1", "loopback"],
  ["127.0.0.1.", "127.0.0.1", "loopback"],
  ["0", "0.0.0.0", "unspecified"],
  ["0xa9fea9fe", "169.254.169.254", "cloud_metadata"],
  ["2852039166", "169.254.169.254", "cloud_metadata"],
  ["0251.0376.0251.0376", "169.254.169.254", "cloud_metadata"],
  ["１２７.０.０.１", "127.0.0.1", "loopback"],
  ["[::1]", "::1", "loopback"],
  ["[0:0:0:0:0:0:0:1]", "::1", "loopback"],
  ["[::ffff:127.0.0.1]", "::ffff:7f00:1", "ipv4_mapped_forbidden"],
  ["[::FFFF:A9FE:A9FE]", "::ffff:a9fe:a9fe", "ipv4_mapped_forbidden"],
  ["[fe80::1%eth0]", "fe80::1", "link_local"],
  ["[fe80::1%25lo]", "fe80::1", "link_local"],
  ["[::127.0.0.1]", "::7f00:1", "ipv4_compatible"],
];

describe("normalizeHost: IP literals in every spelling reach the classifier as one address", () => {
  it.each(SPELLINGS)("%s is %s (%s)", (raw, canonical, cls) => {
    const host = normalizeHost(raw);
    expect(host.kind).toBe("ip");
    if (host.kind !== "ip") return;
    expect(host.text).toBe(canonical);
    expect(classifyAddress(host.ip).class).toBe(cls);
  });
});

const INVALID_HOSTS: readonly string[] = [
  "1.2.3.4.5",
  "0x7g.0.0.1",
  "08.0.0.1",
  "4294967296",
  "256.0.0.1",
  "a..b",
  "exa mple.com",
  "evil.com%00.good.com",
  "good.com@evil.com",
  "[::1",
  "[127.0.0.1]",
  "[::0177.0.0.1]",
  "xn--zz.com",
  "-bad.example",
  "a".repeat(64) + ".com",
  "",
];

describe("normalizeHost: a host that does not normalise is refused, never looked up", () => {
  it.each(INVALID_HOSTS.map((h) => [h]))("`%s` is refused", (raw) => {
    expect(() => normalizeHost(raw)).toThrowError(EgressError);
    try {
      normalizeHost(raw);
    } catch (error) {
      expect((error as EgressError).code).toBe("egress-host-invalid");
    }
  });

  it.each([
    ["Example.COM.", "example.com"],
    ["Bücher.example", "xn--bcher-kva.example"],
    ["xn--bcher-kva.example", "xn--bcher-kva.example"],
    ["ＥＸＡＭＰＬＥ.com", "example.com"],
    ["_dmarc.example.com", "_dmarc.example.com"],
  ])("%s normalises to %s (case, trailing dot, IDNA)", (raw, name) => {
    expect(normalizeHost(raw)).toEqual({ kind: "name", name });
  });

  it("refuses a port out of range and a missing CONNECT port with egress-port-invalid", () => {
    expect(() => parseAuthority("example.com:0")).toThrow(/out of range/);
    expect(() => parseAuthority("example.com:65536")).toThrow(/out of range/);
    expect(() => parseAuthority("example.com")).toThrow(/names no port/);
    expect(() => parseAuthority("example.com:+80")).toThrow(/not a number/);
  });
});

describe("classifyAddress: explicit exceptions and the proxy's own address", () => {
  it("allows a non-public address only when an unsafeAllowAddresses entry names it", () => {
    expect(classifyAddress("127.0.0.1", { unsafeAllowAddresses: ["127.0.0.1"] }).class).toBe("unsafe_allowed");
    expect(classifyAddress("10.1.2.3", { unsafeAllowAddresses: ["10.1.0.0/16"] }).allowed).toBe(true);
    expect(classifyAddress("10.2.0.1", { unsafeAllowAddresses: ["10.1.0.0/16"] }).class).toBe("private");
    expect(classifyAddress("::ffff:127.0.0.1", { unsafeAllowAddresses: ["127.0.0.1"] }).dialAddress).toBe("127.0.0.1");
  });

  it("never allows the proxy's own listening address and port, even when named as unsafe", () => {
    const self = [{ address: "127.0.0.1", port: 3128 }];
    const c = classifyAddress("127.0.0.1", { port: 3128, self, unsafeAllowAddresses: ["127.0.0.0/8"] });
    expect(c.class).toBe("proxy_self");
    expect(classifyAddress("::ffff:127.0.0.1", { port: 3128, self }).class).toBe("proxy_self");
    expect(classifyAddress("127.0.0.1", { port: 8080, self, unsafeAllowAddresses: ["127.0.0.1"] }).class).toBe("unsafe_allowed");
  });
});

describe("resolveAndCheck with a local DNS server: names that resolve to forbidden addresses", () => {
  let dns: Awaited<ReturnType<typeof startDnsServer>>;
  let flip = 0;
  beforeAll(async () => {
    dns = await startDnsServer({
      "metadata.test": ["169.254.169.254"],
      "loopback.test": ["127.0.0.1"],
      "private.test": ["10.0.0.5"],
      "mapped.test": ["::ffff:7f00:1"],
      "nat64.test": ["64:ff9b::a00:1"],
      "ula.test": ["fd12::1"],
      "mixed.test": ["93.184.216.34", "10.0.0.1"],
      "public.test": ["93.184.216.34", "2606:2800:220:1::1"],
      "rebind.test": (type) => (type === "AAAA" ? [] : flip++ % 2 === 0 ? ["93.184.216.34"] : ["127.0.0.1"]),
    });
  });
  afterAll(() => dns.close());

  const resolverOptions = () => ({ resolver: resolverForServers([`127.0.0.1:${dns.port}`]), unsafeAllowAddresses: [], self: [], timeoutMs: 2_000 });

  it.each([
    ["metadata.test", "cloud_metadata"],
    ["loopback.test", "loopback"],
    ["private.test", "private"],
    ["mapped.test", "ipv4_mapped_forbidden"],
    ["nat64.test", "nat64_forbidden"],
    ["ula.test", "unique_local"],
    ["mixed.test", "private"],
  ])("%s is refused as %s", async (name, cls) => {
    const checked = await resolveAndCheck(parseAuthority(`${name}:443`), resolverOptions());
    expect(checked.refused?.class).toBe(cls);
  });

  it("a name with only public answers passes, every address checked", async () => {
    const checked = await resolveAndCheck(parseAuthority("public.test:443"), resolverOptions());
    expect(checked.refused).toBeUndefined();
    expect(checked.addresses.map((a) => a.address).sort()).toEqual(["2606:2800:220:1::1", "93.184.216.34"]);
  });

  it("a name whose answer flips between public and private is judged on each answer it gives", async () => {
    const first = await resolveAndCheck(parseAuthority("rebind.test:443"), resolverOptions());
    const second = await resolveAndCheck(parseAuthority("rebind.test:443"), resolverOptions());
    const verdicts = [first.refused?.class ?? "allowed", second.refused?.class ?? "allowed"].sort();
    expect(verdicts).toEqual(["allowed", "loopback"]);
  });

  it("an unknown name fails to resolve with egress-resolve-failed", async () => {
    await expect(resolveAndCheck(parseAuthority("nxdomain.test:443"), resolverOptions())).rejects.toMatchObject({ code: "egress-resolve-failed" });
  });
});

describe("the proxy dials only the address it checked (DNS rebinding gains nothing)", () => {
  it("resolves once per request, connects to the checked address, and refuses the flipped answer", async () => {
    const upstream = await startUpstream();
    let n = 0;
    const dns = await startDnsServer({ "flip.test": (type) => (type === "AAAA" ? [] : n++ % 2 === 0 ? ["127.0.0.1"] : ["10.0.0.1"]) });
    const p = await startProxy(
      { profiles: { p: { allow: [{ host: "flip.test", ports: [upstream.port], unsafeAllowAddresses: ["127.0.0.1"] }] } }, agents: { a: "p" } },
      { dnsPort: dns.port },
    );
    try {
      const auth = `Basic ${Buffer.from(`a:${p.token("a")}`).toString("base64")}`;
      const get = async () =>
        fetchViaProxy(p.port, `http://flip.test:${upstream.port}/x`, auth);
      const first = await get();
      const second = await get();
      expect(first.status).toBe(200);
      expect(second.status).toBe(403);
      expect(second.headers["x-gatehouse-error"]).toMatch(/egress-address-forbidden: .*10\.0\.0\.1 is in a forbidden class: private network address/);
      expect(upstream.seen).toHaveLength(1);
      expect(dns.queries.filter((q) => q === "flip.test/A")).toHaveLength(2);
      const decisions = p.audit.events().filter((e) => e.type === "decision");
      expect(decisions.map((e) => e.decision?.verdict)).toEqual(["allow", "deny"]);
      expect(decisions[1]?.decision?.rules).toEqual(["egress.deny.private"]);
    } finally {
      await p.close();
      await dns.close();
      await upstream.close();
    }
  });
});

async function fetchViaProxy(proxyPort: number, url: string, auth: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const http = await import("node:http");
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port: proxyPort, method: "GET", path: url, headers: { "proxy-authorization": auth } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

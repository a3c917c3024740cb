import { describe, expect, it } from "vitest";
import { buildEnvironment, isCredentialName } from "./environment.js";

describe("sandbox environment", () => {
  const host = {
    PATH: "/usr/bin",
    LANG: "C.UTF-8",
    LC_ALL: "C",
    AWS_SECRET_ACCESS_KEY: "s",
    GITHUB_TOKEN: "t",
    SSH_AUTH_SOCK: "/run/agent",
    NODE_ENV: "test",
    MY_APP_TOKEN: "x",
    MY_APP_MODE: "fast",
    HOME: "/root",
  };

  it.each([
    ["AWS_SECRET_ACCESS_KEY"],
    ["GITHUB_TOKEN"],
    ["SSH_AUTH_SOCK"],
    ["NODE_ENV"],
  ])("%s does not pass by default", (name) => {
    expect(buildEnvironment(host, [], {}, { HOME: "/h" })).not.toHaveProperty(name);
  });

  it("passes the base allow-list, and HOME is the runner's", () => {
    expect(buildEnvironment(host, [], {}, { HOME: "/h" })).toEqual({ PATH: "/usr/bin", LANG: "C.UTF-8", LC_ALL: "C", HOME: "/h" });
  });

  it("a prefix pattern never lets a credential-like name in; an exact name does", () => {
    const env = buildEnvironment(host, ["MY_APP_*"], {}, {});
    expect(env).toHaveProperty("MY_APP_MODE", "fast");
    expect(env).not.toHaveProperty("MY_APP_TOKEN");
    expect(buildEnvironment(host, ["MY_APP_TOKEN"], {}, {})).toHaveProperty("MY_APP_TOKEN", "x");
  });

  it("fixed values and runner-owned variables win over the host's", () => {
    expect(buildEnvironment(host, ["NODE_ENV"], { NODE_ENV: "production" }, { HOME: "/h" })).toMatchObject({ NODE_ENV: "production", HOME: "/h" });
  });

  it.each(["GH_TOKEN", "DATABASE_PASSWORD", "OPENAI_API_KEY", "AWS_PROFILE", "KUBECONFIG", "NPM_CONFIG__AUTH"])("%s looks like a credential", (name) => {
    expect(isCredentialName(name)).toBe(true);
  });
});

import { z } from "zod";

// The policy owns the file format: the Claude Code hook's `claude-code:` section is declared here,
// and the hook (an entry point above the policy) imports it from the policy's public face.

const COMMAND_PATTERN = /^\S+(?: \S+)*$/;

const commandPatterns = z
  .array(
    z
      .string()
      .min(1)
      .max(200)
      .regex(COMMAND_PATTERN, { message: "a command pattern is words separated by single spaces, e.g. `git status`" }),
  )
  .describe("command patterns: the command name and leading arguments, matched word for word (`git status` matches `git status -s`)");

const directory = z
  .string()
  .min(1)
  .refine((p) => p.startsWith("/") || p.startsWith("~/") || p === "~" || p === "$PROJECT" || p.startsWith("$PROJECT/"), {
    message: "a directory is absolute (`/srv/app`), under the home directory (`~/src`), or under the project (`$PROJECT/build`)",
  })
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), { message: "a directory must not contain `.` or `..` segments" });

const domain = z
  .string()
  .min(1)
  .max(253)
  .regex(/^(\*\.)?[A-Za-z0-9.-]+\.?$/, { message: "a domain is a host name (`docs.python.org`) or a wildcard for its subdomains (`*.github.com`)" });

/**
 * The `claude-code:` section of the policy file: what the Claude Code hook allows beyond the
 * tool list. Strict: an unknown key is a mistake, not a setting.
 *
 * @example
 * claude-code:
 *   directories: { allow: ["$PROJECT", "/tmp"] }
 *   domains: ["docs.python.org", "*.github.com"]
 *   bash: { allow: ["ls", "git status"], deny: ["git push"], sandbox: ["npm test"], unlisted: ask }
 */
export const ClaudeCodeConfigSchema = z
  .strictObject({
    agent: z.string().min(1).optional().describe("the policy agent Claude Code acts as; the policy's only agent when omitted"),
    directories: z
      .strictObject({
        allow: z
          .array(directory)
          .default(["$PROJECT"])
          .describe("where Read/Edit/Write/MultiEdit/NotebookEdit may reach; `$PROJECT` is the session's project directory"),
        neverReadable: z
          .array(directory)
          .default([])
          .describe("extra paths no tool may read or write, added to the built-in credential stores (~/.ssh, ~/.aws, …)"),
      })
      .default({ allow: ["$PROJECT"], neverReadable: [] })
      .describe("file-tool reach"),
    domains: z.array(domain).default([]).describe("hosts WebFetch may fetch (and WebSearch may be limited to); everything else is denied"),
    bash: z
      .strictObject({
        allow: commandPatterns.default([]),
        ask: commandPatterns.default([]),
        deny: commandPatterns.default([]),
        sandbox: commandPatterns
          .default([])
          .describe("commands that run through `gatehouse run` (the OS sandbox) instead of bare; allowed there"),
        unlisted: z.enum(["allow", "ask", "deny"]).default("ask").describe("what a command on no list gets"),
        sandboxProfile: z.string().regex(/^[A-Za-z0-9_-]+$/).optional().describe("the `gatehouse run --profile` for sandboxed commands"),
      })
      .default({ allow: [], ask: [], deny: [], sandbox: [], unlisted: "ask" })
      .describe("how each command of a Bash command line is judged"),
    mcp: z
      .record(z.string().regex(/^mcp__[^_].*__.+$/, { message: "an MCP tool is named `mcp__<server>__<tool>`" }), z.string().min(1))
      .default({})
      .describe("Claude Code MCP tool name → policy tool name; unmapped tools are looked up as `<server>.<tool>`"),
  })
  .describe("how the Claude Code hook judges tool calls");

export type ClaudeCodeConfig = z.infer<typeof ClaudeCodeConfigSchema>;

import { z } from "zod";

/**
 * `tool_input` of the tools Gatehouse judges itself, as Claude Code's tools reference lists
 * them. Strict: a field Gatehouse does not know could change what the tool does, so it is refused.
 */
const edit = z.strictObject({ old_string: z.string(), new_string: z.string(), replace_all: z.boolean().optional() });

export const TOOL_INPUTS = {
  Bash: z.strictObject({
    command: z.string().min(1),
    description: z.string().optional(),
    timeout: z.number().positive().optional(),
    run_in_background: z.boolean().optional(),
    dangerouslyDisableSandbox: z.boolean().optional(),
  }),
  Read: z.strictObject({ file_path: z.string().min(1), offset: z.number().optional(), limit: z.number().optional(), pages: z.string().optional() }),
  Write: z.strictObject({ file_path: z.string().min(1), content: z.string() }),
  Edit: z.strictObject({ file_path: z.string().min(1), ...edit.shape }),
  MultiEdit: z.strictObject({ file_path: z.string().min(1), edits: z.array(edit).min(1) }),
  NotebookEdit: z.strictObject({
    notebook_path: z.string().min(1),
    new_source: z.string(),
    cell_id: z.string().optional(),
    cell_type: z.enum(["code", "markdown"]).optional(),
    edit_mode: z.enum(["replace", "insert", "delete"]).optional(),
  }),
  Glob: z.strictObject({ pattern: z.string().min(1), path: z.string().optional() }),
  // Grep's many switches change what is shown, not what is read; `path` and `glob` decide the reach.
  Grep: z.looseObject({ pattern: z.string(), path: z.string().optional(), glob: z.string().optional() }),
  LS: z.strictObject({ path: z.string().min(1), ignore: z.array(z.string()).optional() }),
  WebFetch: z.strictObject({ url: z.string().min(1), prompt: z.string() }),
  WebSearch: z.strictObject({
    query: z.string().min(1),
    allowed_domains: z.array(z.string()).optional(),
    blocked_domains: z.array(z.string()).optional(),
  }),
} as const;

export type JudgedTool = keyof typeof TOOL_INPUTS;

/** True for the tools whose input Gatehouse parses itself. */
export function isJudgedTool(name: string): name is JudgedTool {
  return Object.hasOwn(TOOL_INPUTS, name);
}

/**
 * The policy tool a Claude Code tool is judged as: built-in tools by their own name, MCP tools
 * (`mcp__<server>__<tool>`) through the `claude-code.mcp` map or as `<server>.<tool>`.
 *
 * @example
 * policyToolName("mcp__github__create_issue", {}) // "github.create_issue"
 */
export function policyToolName(toolName: string, mcpMap: Readonly<Record<string, string>>): string {
  const mapped = mcpMap[toolName];
  if (mapped !== undefined) return mapped;
  const mcp = /^mcp__(.+?)__(.+)$/.exec(toolName);
  return mcp ? `${mcp[1]}.${mcp[2]}` : toolName;
}

import { z } from "zod";
import { MAX_EVENT_BYTES } from "./client.js";
import { ClaudeCodeError } from "./errors.js";

/**
 * Claude Code's hook input, as its hooks reference documents it (code.claude.com/docs/en/hooks)
 * and the Claude Agent SDK types it (`BaseHookInput`, `PreToolUseHookInput`, … in
 * `@anthropic-ai/claude-agent-sdk/sdk.d.ts`).
 *
 * The envelope tolerates fields it does not know: Claude Code adds session metadata over time
 * (`prompt_id`, `agent_id`, `effort`), and none of it changes what a tool does. What a tool
 * does is in `tool_input`; for the tools Gatehouse judges, an unknown `tool_input` field is
 * refused (tools.ts), because it could change the effect.
 */

const base = {
  session_id: z.string().min(1).max(200).describe("Claude Code's session id; Gatehouse's run id"),
  transcript_path: z.string().optional(),
  cwd: z.string().startsWith("/", { message: "must be an absolute path" }).describe("the session's working directory"),
  permission_mode: z.string().optional(),
};

const PreToolUseSchema = z.looseObject({
  ...base,
  hook_event_name: z.literal("PreToolUse"),
  tool_name: z.string().min(1).max(256),
  tool_input: z.record(z.string(), z.unknown()),
  tool_use_id: z.string().min(1).max(200).optional(),
});

const PostToolUseSchema = z.looseObject({
  ...base,
  hook_event_name: z.literal("PostToolUse"),
  tool_name: z.string().min(1).max(256),
  tool_input: z.record(z.string(), z.unknown()),
  tool_response: z.unknown(),
  tool_use_id: z.string().min(1).max(200).optional(),
  duration_ms: z.number().nonnegative().optional(),
});

const UserPromptSubmitSchema = z.looseObject({
  ...base,
  hook_event_name: z.literal("UserPromptSubmit"),
  prompt: z.string(),
  source: z.string().optional(),
});

export type PreToolUseEvent = z.infer<typeof PreToolUseSchema>;
export type PostToolUseEvent = z.infer<typeof PostToolUseSchema>;
export type UserPromptSubmitEvent = z.infer<typeof UserPromptSubmitSchema>;
export type HookEvent = PreToolUseEvent | PostToolUseEvent | UserPromptSubmitEvent;

/** The events `gatehouse hook claude-code` answers. */
export const HOOK_EVENTS = ["PreToolUse", "PostToolUse", "UserPromptSubmit"] as const;

/**
 * Parses one hook event from the bytes Claude Code wrote on stdin. Throws `ClaudeCodeError` with
 * a message naming the field for anything else: invalid JSON, a missing field, an event Gatehouse
 * does not answer.
 *
 * @example
 * parseHookEvent('{"hook_event_name":"UserPromptSubmit","session_id":"s","cwd":"/p","prompt":"hi"}')
 */
export function parseHookEvent(text: string): HookEvent {
  if (Buffer.byteLength(text, "utf8") > MAX_EVENT_BYTES) {
    throw new ClaudeCodeError("hook-input-too-large", `the hook event is larger than ${MAX_EVENT_BYTES} bytes`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ClaudeCodeError(
      "hook-input-invalid-json",
      `the hook event is not JSON: ${error instanceof Error ? error.message : String(error)}`,
      "Claude Code writes one JSON object on stdin; run the hook from Claude Code's settings",
    );
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ClaudeCodeError("hook-input-invalid", "the hook event must be a JSON object");
  }
  const name = (data as Record<string, unknown>).hook_event_name;
  const schema = name === "PreToolUse" ? PreToolUseSchema : name === "PostToolUse" ? PostToolUseSchema : name === "UserPromptSubmit" ? UserPromptSubmitSchema : undefined;
  if (!schema) {
    throw new ClaudeCodeError(
      "hook-event-unknown",
      typeof name === "string" ? `hook event \`${name.slice(0, 80)}\` is not one Gatehouse answers` : "`hook_event_name` is missing",
      `install the hook for ${HOOK_EVENTS.join(", ")} only (\`gatehouse install claude-code\`)`,
    );
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.path.join(".") || "(event)";
    throw new ClaudeCodeError("hook-input-invalid", `${name as string} event field \`${field}\`: ${issue.message}`);
  }
  return parsed.data;
}

import type { Environment } from "./risk.js";

/**
 * One thing an agent wants to do, as every entry point describes it to the Gate.
 *
 * Entry adapters build it from what they see (a library call, an MCP `tools/call`, a hook event);
 * nothing in it is trusted to be well-formed, so the Gate validates it before deciding.
 *
 * @example
 * const action: Action = { agent: "support", tool: "send_email", args: { to: ["a@example.com"] } };
 */
export interface Action {
  /** The agent's name as declared in the policy; may be omitted when the policy declares one agent. */
  readonly agent?: string;
  /** The tool the agent wants to call. */
  readonly tool: string;
  /** The call's arguments, exactly as the agent produced them. */
  readonly args: unknown;
  /** Overrides the agent's configured environment (used by `explain` to ask "what if"). */
  readonly environment?: Environment;
  /** The person or system on whose behalf the run acts. */
  readonly principal?: string;
  /** The run (one execution of an agent for one request) this call belongs to. */
  readonly run?: string;
  /** The user's request for this run, when known. */
  readonly request?: string;
}

/** Identifies one call for the audit trail: decision and outcome records share it. */
export type ActionId = string;

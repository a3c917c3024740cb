import { InvalidArgumentError, Option, type Command } from "commander";
import { ENVIRONMENTS, type Environment } from "../core/index.js";
import { explainPolicy } from "../policy/index.js";
import type { CliIO } from "./io.js";
import { loadOrExit } from "./policy.js";

interface ExplainFlags {
  policy: string;
  tool: string;
  args: unknown;
  agent?: string;
  env?: Environment;
  principal?: string;
  json?: boolean;
}

/** `gatehouse explain`: what the gate would decide for one call, and why. */
export function registerExplainCommand(program: Command, io: CliIO): void {
  program
    .command("explain")
    .description("show the decision for one tool call, the rules that produced it and why")
    .requiredOption("--policy <file>", "the policy file")
    .requiredOption("--tool <name>", "the tool the agent calls")
    .option("--args <json>", "the call's arguments as a JSON object", parseJsonArgs, {})
    .option("--agent <name>", "the agent making the call (default: the policy's only agent)")
    .addOption(new Option("--env <environment>", "decide as if in this environment").choices(ENVIRONMENTS))
    .option("--principal <id>", "the person or system the run acts for")
    .option("--json", "print one JSON object instead of text")
    .action(async (flags: ExplainFlags) => {
      const policy = await loadOrExit(flags.policy, io);
      const { decision, trace } = explainPolicy(policy, {
        tool: flags.tool,
        args: flags.args,
        ...(flags.agent === undefined ? {} : { agent: flags.agent }),
        ...(flags.env === undefined ? {} : { environment: flags.env }),
        ...(flags.principal === undefined ? {} : { principal: flags.principal }),
      });
      if (flags.json) {
        io.out(
          JSON.stringify({
            decision: decision.verdict,
            rules: decision.rules,
            reasons: decision.reasons,
            code: decision.code,
            ...(decision.risk ? { risk: decision.risk } : {}),
            ...(decision.approvers ? { approvers: decision.approvers } : {}),
            ...(decision.agent ? { agent: decision.agent } : {}),
            ...(decision.environment ? { environment: decision.environment } : {}),
            trace,
          }),
        );
        return;
      }
      const approvers = decision.verdict === "ask" ? ` (${decision.approvers ?? 1} approver(s))` : "";
      const lines = [
        `decision: ${decision.verdict}${approvers}`,
        `code:     ${decision.code}`,
        `rules:    ${decision.rules.length ? decision.rules.join(", ") : "(none: a default or a built-in check decided)"}`,
        ...decision.reasons.map((reason) => `why:      ${reason}`),
      ];
      if (decision.agent) lines.push(`agent:    ${decision.agent} in ${decision.environment ?? "?"}`);
      if (decision.risk) lines.push(`risk:     ${decision.risk}`);
      if (trace.length) {
        lines.push("rules looked at, in order:");
        for (const step of trace) lines.push(`  ${step.rule}: ${step.result}${step.error ? ` (${step.error})` : ""}`);
      }
      io.out(lines.join("\n"));
    });
}

function parseJsonArgs(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InvalidArgumentError("must be a JSON object, e.g. '{\"order_id\": \"ord_1\"}'");
  }
  return value;
}

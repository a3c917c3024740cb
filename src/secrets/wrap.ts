import type { AuditEvent, AuditSink } from "../core/index.js";
import type { LeaseContext, SecretBroker, SecretLease } from "./broker.js";
import { createSecretBroker } from "./broker.js";
import { createScrubber, type Scrubber } from "./scrubber.js";
import type { SecretsConfig } from "../policy/index.js";

/** What a tool wrapped by {@link withSecrets} receives besides its arguments. */
export type WithLease<C> = C & { readonly secrets: SecretLease };

/**
 * Wraps a tool implementation so that it receives its secrets at execution time and nothing it
 * returns or throws carries them out. Before the tool runs, the broker resolves the secrets
 * bound to `tool` (failing closed: a `SecretError` naming the handle is thrown and the tool does
 * not run); the result is passed through `scrubValue` and a thrown error's message and stack
 * through `scrubText`.
 *
 * This is the whole secrets contract of an entry point; the library guard can call it around
 * each tool until it has its own hook.
 *
 * @example
 * const charge = withSecrets(broker, "charge_card", async (args: { cents: number }, ctx) =>
 *   stripe(ctx.secrets.get("stripe_key")).charge(args.cents));
 */
export function withSecrets<A, C extends LeaseContext>(
  broker: SecretBroker,
  tool: string,
  run: (args: A, context: WithLease<C>) => unknown,
): (args: A, context: C) => Promise<unknown> {
  return async (args, context) => {
    const lease = await broker.secretsForTool(tool, {
      ...(context.agent === undefined ? {} : { agent: context.agent }),
      ...(context.run === undefined ? {} : { run: context.run }),
    });
    let value: unknown;
    try {
      value = await run(args, { ...context, secrets: lease });
    } catch (error) {
      throw scrubError(broker.scrubber, error);
    }
    return broker.scrubber.scrubValue(value);
  };
}

/** The error with its message, name and stack scrubbed; anything that is not an `Error` becomes one. */
export function scrubError(scrubber: Scrubber, error: unknown): Error {
  if (error instanceof Error) return scrubber.scrubValue(error) as Error;
  return new Error(scrubber.scrubText(typeof error === "string" ? error : safeString(error)));
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * An audit sink that scrubs every event before the inner sink stores it: the audit redaction
 * hook. Arguments, results, errors and deny reasons all pass the scrubber; the record keeps the
 * handle (`{{secret:stripe_key}}`) where a value was.
 *
 * @example
 * const audit = scrubbingAuditSink(durableLog, broker.scrubber);
 */
export function scrubbingAuditSink(sink: AuditSink, scrubber: Scrubber): AuditSink {
  return {
    append: (event: AuditEvent) => sink.append(scrubber.scrubValue(event) as AuditEvent),
  };
}

/**
 * The scrubber for an entry point that hands tools no secrets itself (the Claude Code hook, the
 * MCP gateway): it still knows every value the policy's `secrets:` section declares, resolved
 * once now, so a declared password with no vendor pattern is scrubbed too. Without a section,
 * the vendor-pattern scrubber.
 *
 * @example
 * const scrubber = await scrubberForSecrets(policy.file.secrets);
 */
export async function scrubberForSecrets(config: SecretsConfig | undefined): Promise<Scrubber> {
  if (!config) return createScrubber();
  const broker = createSecretBroker({ config });
  // check() resolves every declared value into the broker's scrubber and reports (never throws)
  // the ones it cannot get; a value that cannot be had here cannot leak from here either.
  await broker.check();
  return broker.scrubber;
}

import { inspect } from "node:util";
import type { JWK } from "jose";
import { SecretError, type SecretErrorCode } from "./errors.js";
import {
  createEnvProvider,
  createFileProvider,
  createVaultProvider,
  describeSource,
  resolveSource,
  type SecretProviders,
} from "./providers.js";
import type { SecretsConfig, SecretSource } from "../policy/index.js";
import { createScrubber, type Scrubber } from "./scrubber.js";
import { mintToken, signingPublicJwk } from "./tokens.js";

/**
 * What a tool receives at execution time: the values of the handles bound to it, and nothing
 * else. Printing, logging or serialising a lease shows the handles, never the values.
 */
export interface SecretLease {
  readonly tool: string;
  /** The handles this tool may use (standing secrets and minted tokens). */
  readonly handles: readonly string[];
  /** The value of `handle`. Throws `SecretError` (`secret-not-bound`) for a handle not bound to this tool. */
  get(handle: string): string;
  /** The egress hosts `handle`'s value may be sent to (empty: not restricted here). */
  hostsFor(handle: string): readonly string[];
  /** `{ tool, handles }`, so `JSON.stringify(lease)` never carries a value. */
  toJSON(): { tool: string; handles: readonly string[] };
}

/** Who a call is made for; goes into minted tokens. */
export interface LeaseContext {
  readonly agent?: string;
  readonly run?: string;
}

/** One line of `secrets check`: a handle and whether it resolves. */
export interface SecretStatus {
  readonly handle: string;
  readonly kind: "secret" | "token" | "signing-key" | "vault-token";
  /** Where the value comes from (never the value). */
  readonly source: string;
  readonly ok: boolean;
  readonly code?: SecretErrorCode;
  readonly message?: string;
  readonly help?: string;
}

/** The broker: resolves, hands out and remembers (for scrubbing) the secrets of the policy. */
export interface SecretBroker {
  /**
   * The one scrubber for outputs, errors, logs and audit records. It learns every value the
   * broker resolves before the value is handed to a tool, so it is the same object for the
   * broker's lifetime.
   */
  readonly scrubber: Scrubber;
  /** The handles bound to `tool` (what the agent may be told about), without resolving them. */
  handlesForTool(tool: string): readonly string[];
  /**
   * Resolves every secret bound to `tool`, fresh from its provider, and mints its tokens. Fails
   * closed: if any of them cannot be had, throws `SecretError` naming the handle, and the tool
   * must not run. Never returns a partial lease, a cached value or an empty one. Call it before
   * every tool, bound or not: the first call also runs `check()`, so the scrubber knows every
   * declared value before any tool runs.
   */
  secretsForTool(tool: string, context?: LeaseContext): Promise<SecretLease>;
  /**
   * Resolves every declared secret once (values are not returned) so the scrubber knows them
   * all from the start, and reports which ones fail. Call it at startup; `secrets check` prints it.
   */
  check(): Promise<readonly SecretStatus[]>;
  /** The public signing key as a JWKS, for services that verify minted tokens. */
  publicJwks(): Promise<{ keys: JWK[] }>;
}

/** Options of {@link createSecretBroker}. */
export interface SecretBrokerOptions {
  /** The validated `secrets:` section of the policy. */
  readonly config: SecretsConfig;
  /** The Gatehouse process's environment; `process.env` when omitted. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `fetch` for Vault; the global one when omitted. */
  readonly fetch?: typeof fetch;
  /** Replaces built-in providers (tests, other secret stores). */
  readonly providers?: Partial<SecretProviders>;
  readonly clock?: () => Date;
}

/** A minted token stays in the scrubber this long after it expires. */
const EXPIRED_TOKEN_GRACE_MS = 15 * 60 * 1000;

/**
 * Builds the secret broker for a policy's `secrets:` section.
 *
 * @example
 * const broker = createSecretBroker({ config: policy.secrets, env: process.env });
 * await broker.check(); // the scrubber now knows every value that resolves
 * const lease = await broker.secretsForTool("charge_card", { agent: "billing" }); // throws SecretError → deny
 * await chargeCard(args, lease.get("stripe_key"));
 * const safe = broker.scrubber.scrubValue(result);
 */
export function createSecretBroker(options: SecretBrokerOptions): SecretBroker {
  const { config } = options;
  const clock = options.clock ?? (() => new Date());
  const scrubber = createScrubber({
    disableRules: config.scrub?.disableRules ?? [],
    genericEntropy: config.scrub?.genericEntropy ?? false,
  });
  const env = options.providers?.env ?? createEnvProvider(options.env ?? process.env);
  const file = options.providers?.file ?? createFileProvider();

  const learn = (label: string, value: string): string => {
    scrubber.addSecret(label, value);
    return value;
  };
  const readPlain = (source: SecretSource, label: string): Promise<string> =>
    "env" in source ? env.read(source.env, label) : "file" in source ? file.read(source.file, label) : Promise.reject(new Error("unreachable"));

  const vault: SecretProviders["vault"] =
    options.providers?.vault ??
    Object.fromEntries(
      Object.entries(config.vault ?? {}).map(([name, server]) => {
        const label = `vault.${name}.token`;
        return [
          name,
          createVaultProvider(name, server, {
            token: async () => learn(label, await readPlain(server.token, label)),
            ...(options.fetch ? { fetch: options.fetch } : {}),
          }),
        ];
      }),
    );
  const providers: SecretProviders = { env, file, vault };

  const handles = config.handles ?? {};
  const tokens = config.tokens ?? {};
  const byTool = new Map<string, string[]>();
  for (const [name, spec] of [...Object.entries(handles), ...Object.entries(tokens)]) {
    for (const tool of spec.tools) byTool.set(tool, [...(byTool.get(tool) ?? []), name]);
  }
  /** Minted tokens still in the scrubber, to drop once long expired. */
  const minted: { label: string; value: string; dropAfter: number }[] = [];

  function pruneMinted(now: number): void {
    for (let i = minted.length - 1; i >= 0; i--) {
      const entry = minted[i]!;
      if (entry.dropAfter <= now) {
        scrubber.removeSecret(entry.label, entry.value);
        minted.splice(i, 1);
      }
    }
  }

  async function resolveHandle(name: string): Promise<string> {
    const spec = handles[name];
    if (!spec) throw new SecretError("secret-unknown", `secret \`${name}\` is not declared`, { handle: name });
    return learn(name, await resolveSource(spec.from, name, providers));
  }

  async function signingKey(handle: string): Promise<string> {
    const signing = config.signing;
    if (!signing) {
      throw new SecretError("token-mint-failed", `token \`${handle}\`: no \`secrets.signing\` key is configured`, { handle });
    }
    try {
      return learn("signing.key", await resolveSource(signing.from, "signing.key", providers));
    } catch (error) {
      if (!(error instanceof SecretError)) throw error;
      throw new SecretError(error.code, `token \`${handle}\`: ${error.message}`, { handle, ...(error.help ? { help: error.help } : {}) });
    }
  }

  async function mintHandle(name: string, tool: string, context: LeaseContext): Promise<string> {
    const spec = tokens[name]!;
    const key = await signingKey(name);
    const now = clock();
    const { token, expiresAt } = await mintToken(
      config.signing!,
      key,
      {
        handle: name,
        audience: spec.audience,
        scope: spec.scope,
        ttlSeconds: spec.ttlSeconds,
        subject: context.agent ?? "gatehouse",
        tool,
        ...(context.run === undefined ? {} : { run: context.run }),
      },
      now,
    );
    learn(name, token);
    minted.push({ label: name, value: token, dropAfter: expiresAt.getTime() + EXPIRED_TOKEN_GRACE_MS });
    return token;
  }

  /** Resolved once, on the first call: until then the scrubber would not know values of secrets no tool has used yet. */
  let primed: Promise<unknown> | undefined;

  async function secretsForTool(tool: string, context: LeaseContext = {}): Promise<SecretLease> {
    // Any tool may print a value it was never given (a shared environment, a log file): the
    // scrubber must know every declared value before the first tool runs, not just this tool's.
    await (primed ??= check());
    pruneMinted(clock().getTime());
    const names = byTool.get(tool) ?? [];
    const settled = await Promise.allSettled(
      names.map((name) => (name in tokens ? mintHandle(name, tool, context) : resolveHandle(name))),
    );
    const values = new Map<string, string>();
    for (const [index, result] of settled.entries()) {
      const name = names[index]!;
      if (result.status === "rejected") {
        // Fail closed: one missing secret denies the tool; nothing runs with a partial lease.
        const error: unknown = result.reason;
        if (error instanceof SecretError) throw error;
        throw new SecretError("secret-provider-unavailable", `secret \`${name}\` could not be resolved`, { handle: name });
      }
      values.set(name, result.value);
    }
    return createLease(tool, names, values, (handle) => handles[handle]?.hosts ?? tokens[handle]?.hosts ?? []);
  }

  async function check(): Promise<readonly SecretStatus[]> {
    const statuses: SecretStatus[] = [];
    const record = async (handle: string, kind: SecretStatus["kind"], source: SecretSource, run: () => Promise<unknown>): Promise<void> => {
      try {
        await run();
        statuses.push({ handle, kind, source: describeSource(source), ok: true });
      } catch (error) {
        const e =
          error instanceof SecretError
            ? error
            : new SecretError("secret-provider-unavailable", `secret \`${handle}\` could not be resolved`, { handle });
        statuses.push({
          handle,
          kind,
          source: describeSource(source),
          ok: false,
          code: e.code,
          message: scrubber.scrubText(e.message),
          ...(e.help === undefined ? {} : { help: e.help }),
        });
      }
    };
    for (const [name, server] of Object.entries(config.vault ?? {})) {
      const provider = vault[name];
      await record(`vault.${name}.token`, "vault-token", server.token, () => provider!.token());
    }
    for (const [name, spec] of Object.entries(handles)) await record(name, "secret", spec.from, () => resolveHandle(name));
    if (config.signing) {
      const signing = config.signing;
      await record("signing.key", "signing-key", signing.from, async () => {
        await signingPublicJwk(signing, await signingKey("signing.key"));
      });
    }
    return statuses;
  }

  async function publicJwks(): Promise<{ keys: JWK[] }> {
    const signing = config.signing;
    if (!signing) return { keys: [] };
    const jwk = await signingPublicJwk(signing, await signingKey("signing.key"));
    return { keys: jwk ? [jwk] : [] };
  }

  return {
    scrubber,
    handlesForTool: (tool) => [...(byTool.get(tool) ?? [])],
    secretsForTool,
    check,
    publicJwks,
  };
}

function createLease(
  tool: string,
  handles: readonly string[],
  values: ReadonlyMap<string, string>,
  hostsOf: (handle: string) => readonly string[],
): SecretLease {
  const shown = { tool, handles: [...handles] };
  const lease: SecretLease & { [inspect.custom](): string } = {
    tool,
    handles: shown.handles,
    get(handle: string): string {
      const value = values.get(handle);
      if (value === undefined) {
        throw new SecretError("secret-not-bound", `secret \`${handle}\` is not bound to tool \`${tool}\``, {
          handle,
          help: handles.length
            ? `this tool may use: ${handles.map((h) => `\`${h}\``).join(", ")}`
            : `add \`${tool}\` to the handle's \`tools\` in the policy`,
        });
      }
      return value;
    },
    hostsFor: (handle) => (values.has(handle) ? hostsOf(handle) : []),
    toJSON: () => shown,
    [inspect.custom]: () => `SecretLease { tool: '${tool}', handles: [${shown.handles.join(", ")}] }`,
  };
  return Object.freeze(lease);
}

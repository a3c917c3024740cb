import { z } from "zod";

/** Longest time a minted token may live: 15 minutes (issue 5: "expiry of at most 15 minutes"). */
export const MAX_TOKEN_TTL_SECONDS = 900;

/** A handle name: what the agent sees as `{{secret:NAME}}`. */
export const HANDLE_NAME = /^[a-z][a-z0-9_]{0,63}$/;

const TOOL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,255}$/;
const HOST = /^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$/;
const VAULT_PATH = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/;

const handleName = z
  .string()
  .regex(HANDLE_NAME, { message: "a handle is lowercase letters, digits and `_`, starting with a letter" });

const absolutePath = z
  .string()
  .regex(/^\//, { message: "a secret file path must be absolute (start with `/`)" })
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), {
    message: "a secret file path must not contain `.` or `..` segments",
  });

const vaultPath = z
  .string()
  .regex(VAULT_PATH, { message: "a Vault path is segments of letters, digits, `_`, `.`, `-` joined by `/`" })
  .refine((p) => !p.split("/").some((s) => s === ".." || s === "."), {
    message: "a Vault path must not contain `.` or `..` segments",
  });

const EnvSourceSchema = z
  .strictObject({ env: z.string().regex(ENV_NAME).describe("name of an environment variable of the Gatehouse process") })
  .describe("read the value from the Gatehouse process's environment");

const FileSourceSchema = z
  .strictObject({
    file: absolutePath.describe("absolute path of a file readable only by its owner (mode 0600 or 0400)"),
  })
  .describe("read the value from a file; one trailing newline is dropped");

const VaultSourceSchema = z
  .strictObject({
    vault: z.string().regex(HANDLE_NAME).describe("name of a Vault server declared under `secrets.vault`"),
    path: vaultPath.describe("secret path inside the KV v2 mount, e.g. `payments/stripe`"),
    key: z.string().min(1).max(256).describe("field of the secret's data to use, e.g. `api_key`"),
    version: z.int().min(1).optional().describe("pin a KV v2 version; the latest when omitted"),
  })
  .describe("read the value from a HashiCorp Vault KV v2 secret");

/** Where a value comes from: exactly one of `env`, `file` or `vault`. */
export const SecretSourceSchema = z
  .union([EnvSourceSchema, FileSourceSchema, VaultSourceSchema], {
    error: "a source is one of `{ env: NAME }`, `{ file: /abs/path }` or `{ vault: NAME, path: P, key: K }`",
  })
  .describe("where the value comes from");

const toolList = z
  .array(z.string().regex(TOOL_NAME))
  .describe("the tools that receive the value; no other tool can resolve it");

const hostList = z
  .array(z.string().regex(HOST, { message: "a host is a lowercase DNS name, optionally `*.` and `:port`" }))
  .optional()
  .describe("egress hosts this value may be sent to (used by the egress proxy)");

const HandleSchema = z
  .strictObject({
    description: z.string().max(500).optional(),
    from: SecretSourceSchema,
    tools: toolList,
    hosts: hostList,
  })
  .describe("a standing secret the agent knows only by its handle");

const TokenSchema = z
  .strictObject({
    description: z.string().max(500).optional(),
    audience: z.string().min(1).max(500).describe("the `aud` claim: the service that accepts the token"),
    scope: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, { message: "a scope is printable ASCII without spaces, `\"` or `\\`" }))
      .min(1)
      .describe("the `scope` claim (RFC 8693 §4.2), space-joined"),
    ttlSeconds: z
      .int()
      .min(10)
      .max(MAX_TOKEN_TTL_SECONDS, { message: `a token lives at most ${MAX_TOKEN_TTL_SECONDS} seconds (15 minutes)` })
      .describe("lifetime of each minted token, at most 900 seconds"),
    tools: toolList,
    hosts: hostList,
  })
  .describe("a short-lived JWT minted by Gatehouse for each call, instead of a standing credential");

const SigningSchema = z
  .strictObject({
    from: SecretSourceSchema.describe("the private key (PKCS#8 PEM or JWK JSON), or for HS256 a secret of 32+ bytes"),
    alg: z.enum(["EdDSA", "ES256", "RS256", "HS256"]).describe("JWS algorithm of minted tokens"),
    issuer: z.string().min(1).max(500).describe("the `iss` claim"),
    kid: z.string().min(1).max(200).optional().describe("the `kid` header, so verifiers can pick the key"),
  })
  .describe("the key Gatehouse signs minted tokens with; it never leaves Gatehouse");

const loopbackHosts = new Set(["127.0.0.1", "localhost", "[::1]"]);

const VaultServerSchema = z
  .strictObject({
    address: z
      .url({ protocol: /^https?$/ })
      .refine(
        (a) => {
          const url = new URL(a);
          return url.protocol === "https:" || loopbackHosts.has(url.hostname) || url.hostname.startsWith("127.");
        },
        { message: "use `https://`: plain HTTP would send the Vault token in clear (allowed only on loopback)" },
      )
      .describe("base URL of the Vault server, e.g. `https://vault.internal:8200`"),
    mount: vaultPath.default("secret").describe("the KV v2 mount point (`secret` by default)"),
    token: z.union([EnvSourceSchema, FileSourceSchema]).describe("where the Vault token comes from"),
    namespace: z.string().min(1).max(200).optional().describe("Vault Enterprise namespace (`X-Vault-Namespace`)"),
    timeoutMs: z.int().min(50).max(60_000).default(2_000).describe("give up on a request after this long"),
  })
  .describe("a HashiCorp Vault server with a KV v2 secrets engine");

const ScrubSchema = z
  .strictObject({
    disableRules: z.array(z.string().min(1)).optional().describe("ids of built-in pattern rules to switch off"),
    genericEntropy: z
      .boolean()
      .optional()
      .describe("also flag generic `key = <high-entropy string>` assignments; off by default (noisy)"),
  })
  .describe("how tool outputs, errors, logs and audit records are scrubbed");

/**
 * The `secrets:` section of the policy file. Mount it under the key `secrets`.
 *
 * @example
 * secrets:
 *   vault: { main: { address: "https://vault.internal:8200", token: { env: VAULT_TOKEN } } }
 *   handles:
 *     stripe_key: { from: { env: STRIPE_KEY }, tools: [charge_card], hosts: [api.stripe.com] }
 */
export const SecretsConfigSchema = z
  .strictObject({
    vault: z.record(z.string().regex(HANDLE_NAME), VaultServerSchema).optional(),
    handles: z.record(handleName, HandleSchema).optional().describe("standing secrets, by handle"),
    tokens: z.record(handleName, TokenSchema).optional().describe("minted short-lived tokens, by handle"),
    signing: SigningSchema.optional(),
    scrub: ScrubSchema.optional(),
  })
  .superRefine((config, ctx) => {
    const handles = Object.keys(config.handles ?? {});
    for (const name of Object.keys(config.tokens ?? {})) {
      if (handles.includes(name)) {
        ctx.addIssue({ code: "custom", path: ["tokens", name], message: `\`${name}\` is already a handle; names are shared` });
      }
    }
    if (Object.keys(config.tokens ?? {}).length > 0 && config.signing === undefined) {
      ctx.addIssue({ code: "custom", path: ["signing"], message: "tokens need a `signing` key to be minted with" });
    }
    const vaults = Object.keys(config.vault ?? {});
    const sources: [readonly PropertyKey[], z.infer<typeof SecretSourceSchema>][] = Object.entries(config.handles ?? {}).map(
      ([name, h]) => [["handles", name, "from"], h.from],
    );
    if (config.signing) sources.push([["signing", "from"], config.signing.from]);
    for (const [path, source] of sources) {
      if ("vault" in source && !vaults.includes(source.vault)) {
        ctx.addIssue({
          code: "custom",
          path: [...path, "vault"],
          message: `no Vault server \`${source.vault}\` under \`secrets.vault\`${vaults.length ? `; declared: ${vaults.join(", ")}` : ""}`,
        });
      }
    }
  })
  .describe("secrets the agent uses by handle, never by value");

export type SecretsConfig = z.infer<typeof SecretsConfigSchema>;
export type SecretSource = z.infer<typeof SecretSourceSchema>;
export type HandleConfig = z.infer<typeof HandleSchema>;
export type TokenConfig = z.infer<typeof TokenSchema>;
export type SigningConfig = z.infer<typeof SigningSchema>;
export type VaultServerConfig = z.infer<typeof VaultServerSchema>;
export type ScrubConfig = z.infer<typeof ScrubSchema>;

/** One thing wrong with a `secrets:` section, with the place a person can open. */
export interface SecretsConfigProblem {
  readonly file: string;
  /** 1-based; 0 when unknown. */
  readonly line: number;
  readonly column: number;
  /** Dotted path from the top of the policy file (`secrets.handles.stripe_key.from`). */
  readonly field: string;
  readonly message: string;
}

/**
 * Checks that every tool a secret is bound to is a tool the policy lists; a typo there would
 * silently leave the real tool without its secret (it would then be denied, but for the wrong
 * reason). Returns problems rather than throwing, so the policy loader can report them with its own.
 */
export function checkSecretBindings(config: SecretsConfig, toolNames: Iterable<string>): SecretsConfigProblem[] {
  const tools = new Set(toolNames);
  const problems: SecretsConfigProblem[] = [];
  const bound: [string, string, readonly string[]][] = [
    ...Object.entries(config.handles ?? {}).map(([name, spec]): [string, string, readonly string[]] => ["handles", name, spec.tools]),
    ...Object.entries(config.tokens ?? {}).map(([name, spec]): [string, string, readonly string[]] => ["tokens", name, spec.tools]),
  ];
  for (const [group, name, list] of bound) {
    list.forEach((tool, index) => {
      if (!tools.has(tool)) {
        problems.push({
          file: "",
          line: 0,
          column: 0,
          field: `secrets.${group}.${name}.tools.${index}`,
          message: `\`${tool}\` is not a tool of the policy`,
        });
      }
    });
  }
  return problems;
}

export { SECRET_ERROR_CODES, SecretError } from "./errors.js";
export type { SecretErrorCode } from "./errors.js";
export {
  SecretsConfigSchema,
  SecretSourceSchema,
  MAX_TOKEN_TTL_SECONDS,
  HANDLE_NAME,
} from "../policy/index.js";
export type {
  SecretsConfig,
  SecretSource,
  HandleConfig,
  TokenConfig,
  SigningConfig,
  VaultServerConfig,
  ScrubConfig,
  SecretsConfigProblem,
} from "../policy/index.js";
export {
  parseSecretsConfig,
  loadSecretsConfigFile,
  formatConfigProblem,
  SecretsConfigError,
} from "./config.js";
export { checkSecretBindings } from "../policy/index.js";
export {
  createEnvProvider,
  createFileProvider,
  createVaultProvider,
  MIN_SECRET_LENGTH,
  MAX_SECRET_BYTES,
} from "./providers.js";
export type { EnvProvider, FileProvider, VaultProvider, VaultDependencies, SecretProviders } from "./providers.js";
export { createSecretBroker } from "./broker.js";
export type { SecretBroker, SecretBrokerOptions, SecretLease, LeaseContext, SecretStatus } from "./broker.js";
export { createScrubber, secretMarker, patternMarker } from "./scrubber.js";
export type { Scrubber, MutableScrubber, ScrubberOptions, ScrubResult, Finding, ChunkScrubber } from "./scrubber.js";
export { DEFAULT_RULES } from "./rules.js";
export type { PatternRule } from "./rules.js";
export { ENCODINGS, variantsOf } from "./variants.js";
export type { Encoding, Variant } from "./variants.js";
export { withSecrets, scrubError, scrubbingAuditSink, scrubberForSecrets } from "./wrap.js";
export type { WithLease } from "./wrap.js";
export { mintToken, signingPublicJwk } from "./tokens.js";
export type { TokenRequest, MintedToken } from "./tokens.js";

/**
 * What the agent sees in place of a secret: `{{secret:NAME}}`. Use it in tool descriptions
 * ("authenticates with {{secret:stripe_key}}"); the value is never substituted into arguments the
 * agent writes — tools get values from their lease.
 *
 * @example
 * secretHandle("stripe_key") // "{{secret:stripe_key}}"
 */
export { secretMarker as secretHandle } from "./scrubber.js";

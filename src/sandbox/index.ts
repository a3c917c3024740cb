export { createSandbox } from "./runner.js";
export type { Sandbox, SandboxDeps, RunOptions, RunResult, RunUsage, EgressTarget } from "./runner.js";
export {
  SandboxPolicySchema,
  SandboxProfileSchema,
  SandboxLimitsSchema,
  SandboxEnvSchema,
  BUILTIN_PROFILES,
  DEFAULT_LIMITS,
  resolveProfile,
  profilesOf,
  loadSandboxPolicy,
  parseSandboxPolicy,
} from "./profile.js";
export type { SandboxPolicy, SandboxPolicyConfig, SandboxProfileConfig, ResolvedProfile, ResolvedLimits } from "./profile.js";
export { SandboxError, SANDBOX_ERROR_CODES } from "./errors.js";
export type { SandboxErrorCode } from "./errors.js";
export { probeHost, formatDoctorReport } from "./doctor.js";
export type { HostCapabilities } from "./doctor.js";
export { buildSeccompFilter, DENIED_SYSCALLS, ALLOWED_SOCKET_FAMILIES } from "./seccomp.js";
export { DENIED_HOME_PATHS, PROTECTED_PATHS } from "./filesystem.js";
export { formatViolation } from "./violations.js";
export type { Violation } from "./violations.js";

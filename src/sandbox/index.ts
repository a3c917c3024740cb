export { createSandbox } from "./runner.js";
export type { Sandbox, SandboxDeps, RunOptions, RunResult, RunUsage, EgressTarget } from "./runner.js";
// The `sandbox:` section's schema lives with the policy, which owns the file format: import
// `SandboxPolicySchema` and friends from src/policy/index.ts. They are deliberately not
// re-exported here as values: that would load the whole policy module (~240 ms) on every
// `gatehouse run`; the sandbox loads it only when it has a policy to validate. The types cost
// nothing and are re-exported.
export type { SandboxPolicyConfig, SandboxProfileConfig } from "../policy/index.js";
export {
  BUILTIN_PROFILES,
  DEFAULT_LIMITS,
  resolveProfile,
  profilesOf,
  loadSandboxPolicy,
  parseSandboxPolicy,
} from "./profile.js";
export type { SandboxPolicy, ResolvedProfile, ResolvedLimits } from "./profile.js";
export { SandboxError, SANDBOX_ERROR_CODES } from "./errors.js";
export type { SandboxErrorCode } from "./errors.js";
export { probeHost, formatDoctorReport, missingBwrapOptions, BWRAP_OPTIONS_USED, BWRAP_MIN_VERSION } from "./doctor.js";
export type { HostCapabilities } from "./doctor.js";
export { buildSeccompFilter, DENIED_SYSCALLS, ALLOWED_SOCKET_FAMILIES } from "./seccomp.js";
export { DENIED_HOME_PATHS, PROTECTED_PATHS } from "./filesystem.js";
export { formatViolation } from "./violations.js";
export type { Violation } from "./violations.js";

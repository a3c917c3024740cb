import { z } from "zod";

// The policy owns the file format: the sandbox runner's `sandbox:` section is declared here, and
// the runner (src/sandbox, an entry point above the policy) imports it from the policy's public
// face and re-exports it for its own callers.

/** Resource limits; every field optional, the built-in default applies when unset. */
export const SandboxLimitsSchema = z
  .strictObject({
    timeoutSeconds: z.int().min(1).max(86_400).optional().describe("wall-clock time before the whole process tree is killed"),
    cpuSeconds: z.int().min(1).max(86_400).optional().describe("CPU time per process (RLIMIT_CPU); the run is killed when it is spent"),
    memoryMb: z.int().min(16).max(1_048_576).optional().describe("memory for the whole run (cgroup) or per process address space (rlimit) in MiB"),
    processes: z.int().min(4).max(65_536).optional().describe("processes and threads alive at once in the run (cgroup pids.max)"),
    openFiles: z.int().min(16).max(1_048_576).optional().describe("open file descriptors per process (RLIMIT_NOFILE)"),
    outputBytes: z.int().min(1024).max(1_073_741_824).optional().describe("stdout plus stderr bytes kept before the run is killed"),
    fileSizeMb: z.int().min(1).max(1_048_576).optional().describe("largest file a process may write, in MiB (RLIMIT_FSIZE)"),
  })
  .describe("resource limits of one run");

/** The environment variables a profile lets in. */
export const SandboxEnvSchema = z
  .strictObject({
    allow: z
      .array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, "a variable name, optionally ending in `*`"))
      .optional()
      .describe("names passed through from the caller's environment; `LC_*` matches a prefix (a prefix never matches credential-like names)"),
    set: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a variable name"), z.string())
      .optional()
      .describe("variables set to fixed values inside the sandbox"),
  })
  .describe("environment allow-list; nothing else passes in");

const pathList = z.array(z.string().min(1)).optional();

/** One sandbox profile as written in the policy file. */
export const SandboxProfileSchema = z
  .strictObject({
    description: z.string().optional().describe("what the profile is for"),
    isolation: z
      .enum(["bubblewrap", "none"])
      .optional()
      .describe("`bubblewrap` (default) or `none`: unsandboxed, for development only, warned on every run"),
    workdir: z.string().min(1).optional().describe("the working directory; relative paths resolve against the policy file's directory; default: the current directory"),
    workdirAccess: z.enum(["read-only", "read-write"]).optional().describe("whether the command may write the working directory (default read-write)"),
    readable: pathList.describe("extra host paths visible read-only (e.g. a toolchain under the home directory)"),
    writable: pathList.describe("extra host paths visible read-write"),
    writableProtected: pathList.describe("protected paths under the working directory this profile may write (e.g. `.git/hooks`)"),
    network: z.enum(["none", "proxy"]).optional().describe("`none` (default): no network at all; `proxy`: only the Gatehouse egress proxy"),
    env: SandboxEnvSchema.optional(),
    limits: SandboxLimitsSchema.optional(),
  })
  .describe("how one command runs: what it sees, what it may write, where it may connect, what it may use");

/** The `sandbox:` section of the policy file (mount under the top-level key `sandbox`). */
export const SandboxPolicySchema = z
  .strictObject({
    defaultProfile: z.string().min(1).optional().describe("profile used when `--profile` is not given (default `build`)"),
    proxy: z
      .strictObject({
        socket: z.string().min(1).optional().describe("path of the egress proxy's Unix socket on the host"),
        address: z
          .string()
          .regex(/^(127\.0\.0\.1|\[::1\]|localhost):\d{1,5}$/, "a loopback `host:port`, e.g. `127.0.0.1:3128`")
          .optional()
          .describe("the egress proxy's loopback TCP address on the host"),
      })
      .refine((p) => (p.socket === undefined) !== (p.address === undefined), "give exactly one of `socket` and `address`")
      .optional()
      .describe("the egress proxy that `network: proxy` profiles reach"),
    profiles: z.record(z.string().regex(/^[a-z][a-z0-9-]*$/, "lowercase letters, digits and dashes"), SandboxProfileSchema).optional(),
  })
  .describe("sandbox runner profiles (`gatehouse run`)");

/** A profile as written. */
export type SandboxProfileConfig = z.infer<typeof SandboxProfileSchema>;
/** The `sandbox:` section as written. */
export type SandboxPolicyConfig = z.infer<typeof SandboxPolicySchema>;

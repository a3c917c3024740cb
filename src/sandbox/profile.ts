import { readFile } from "node:fs/promises";
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from "yaml";
import { z } from "zod";
import { SandboxError } from "./errors.js";

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

/** Limits with every default filled in. */
export interface ResolvedLimits {
  readonly timeoutSeconds: number;
  readonly cpuSeconds: number;
  readonly memoryMb: number;
  readonly processes: number;
  readonly openFiles: number;
  readonly outputBytes: number;
  readonly fileSizeMb: number;
}

/** A profile ready to run: every default filled in, paths still as written. */
export interface ResolvedProfile {
  readonly name: string;
  readonly isolation: "bubblewrap" | "none";
  readonly workdir?: string;
  /** Directory that relative `workdir`, `readable` and `writable` entries resolve against. */
  readonly baseDir?: string;
  readonly workdirAccess: "read-only" | "read-write";
  readonly readable: readonly string[];
  readonly writable: readonly string[];
  readonly writableProtected: readonly string[];
  readonly network: "none" | "proxy";
  readonly envAllow: readonly string[];
  readonly envSet: Readonly<Record<string, string>>;
  readonly limits: ResolvedLimits;
}

/** Defaults for limits a profile leaves unset. */
export const DEFAULT_LIMITS: ResolvedLimits = Object.freeze({
  timeoutSeconds: 600,
  cpuSeconds: 600,
  memoryMb: 4096,
  processes: 1024,
  openFiles: 4096,
  outputBytes: 32 * 1024 * 1024,
  fileSizeMb: 2048,
});

/**
 * The built-in profiles. `readonly` inspects a repository, `build` writes the working directory
 * without network, `networked` is `build` plus the egress proxy. A policy may redefine them.
 */
export const BUILTIN_PROFILES: Readonly<Record<string, SandboxProfileConfig>> = Object.freeze({
  readonly: { description: "inspect a repository: working directory read-only, no network", workdirAccess: "read-only", network: "none" },
  build: { description: "build and test: working directory writable, no network", workdirAccess: "read-write", network: "none" },
  networked: { description: "build plus the egress proxy as the only route out", workdirAccess: "read-write", network: "proxy" },
});

/**
 * Fills in defaults and freezes a profile.
 *
 * @example
 * resolveProfile("build", BUILTIN_PROFILES.build!)
 */
export function resolveProfile(name: string, config: SandboxProfileConfig, baseDir?: string): ResolvedProfile {
  const parsed = SandboxProfileSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue ? issue.path.join(".") : "";
    throw new SandboxError("profile-invalid", `profile \`${name}\`${field ? ` ${field}` : ""}: ${issue?.message ?? "invalid"}`, "see docs/sandbox.md for the profile fields");
  }
  const c = parsed.data;
  const limits: ResolvedLimits = Object.freeze({ ...DEFAULT_LIMITS, ...stripUndefined(c.limits ?? {}) });
  const profile: ResolvedProfile = {
    name,
    isolation: c.isolation ?? "bubblewrap",
    ...(c.workdir !== undefined ? { workdir: c.workdir } : {}),
    ...(baseDir !== undefined ? { baseDir } : {}),
    workdirAccess: c.workdirAccess ?? "read-write",
    readable: Object.freeze([...(c.readable ?? [])]),
    writable: Object.freeze([...(c.writable ?? [])]),
    writableProtected: Object.freeze([...(c.writableProtected ?? [])]),
    network: c.network ?? "none",
    envAllow: Object.freeze([...(c.env?.allow ?? [])]),
    envSet: Object.freeze({ ...(c.env?.set ?? {}) }),
    limits,
  };
  return Object.freeze(profile);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A validated `sandbox:` section plus where it came from. */
export interface SandboxPolicy {
  readonly config: SandboxPolicyConfig;
  /** Directory of the policy file (relative profile paths resolve against it). */
  readonly baseDir?: string;
}

/** Profiles by name: the built-ins overlaid with the policy's own. */
export function profilesOf(policy: SandboxPolicy | undefined): ReadonlyMap<string, ResolvedProfile> {
  const map = new Map<string, ResolvedProfile>();
  for (const [name, config] of Object.entries(BUILTIN_PROFILES)) map.set(name, resolveProfile(name, config));
  for (const [name, config] of Object.entries(policy?.config.profiles ?? {})) {
    map.set(name, resolveProfile(name, config, policy?.baseDir));
  }
  return map;
}

/** Largest policy file read; a policy is configuration, not data. */
const MAX_POLICY_BYTES = 1024 * 1024;

/**
 * Reads the `sandbox:` section of a policy file (other sections are left to their owners).
 * Problems name `file:line:col field`.
 *
 * @example
 * const policy = await loadSandboxPolicy("gatehouse.yaml");
 */
export async function loadSandboxPolicy(file: string, baseDir: string): Promise<SandboxPolicy> {
  let text: string;
  try {
    const bytes = await readFile(file);
    if (bytes.length > MAX_POLICY_BYTES) throw new SandboxError("policy-unreadable", `${file}: larger than ${MAX_POLICY_BYTES} bytes`);
    text = bytes.toString("utf8");
  } catch (error) {
    if (error instanceof SandboxError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new SandboxError("policy-unreadable", `${file}: cannot read policy (${code ?? String(error)})`, "check the path given with --policy");
  }
  return parseSandboxPolicy(text, file, baseDir);
}

/** Same as {@link loadSandboxPolicy} for policy text already in memory. */
export function parseSandboxPolicy(text: string, file: string, baseDir: string): SandboxPolicy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const pos = yamlError.linePos?.[0];
    throw new SandboxError("profile-invalid", `${file}:${pos?.line ?? 0}:${pos?.col ?? 0}: ${yamlError.message.split("\n")[0] ?? "bad YAML"}`);
  }
  const root: unknown = doc.toJS();
  const section: unknown = root !== null && typeof root === "object" ? (root as Record<string, unknown>).sandbox : undefined;
  if (section === undefined) return { config: {}, baseDir };
  const parsed = SandboxPolicySchema.safeParse(section);
  if (parsed.success) return { config: parsed.data, baseDir };
  const messages = parsed.error.issues.map((issue) => {
    const path = ["sandbox", ...issue.path.map(String)];
    const node = nodeAt(doc.contents, path);
    const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
    return `${file}:${pos?.line ?? 0}:${pos?.col ?? 0} ${path.join(".")}: ${issue.message}`;
  });
  throw new SandboxError("profile-invalid", messages.join("\n"), "see docs/sandbox.md for the profile fields");
}

/** The deepest YAML node along `path` (a parent stands in for a missing key). */
function nodeAt(node: unknown, path: readonly string[]): YamlNode | undefined {
  let current = node as YamlNode | undefined;
  for (const key of path) {
    if (!isMap(current)) return current;
    const pair = current.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (!pair) return current;
    current = (pair.value as YamlNode | null) ?? (pair.key as YamlNode);
  }
  return current;
}

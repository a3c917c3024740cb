import { readFile } from "node:fs/promises";
import type { Node as YamlNode } from "yaml";
import type * as Yaml from "yaml";
import type * as PolicyModule from "../policy/index.js";
import type { SandboxPolicyConfig, SandboxProfileConfig } from "../policy/index.js";
import { SandboxError } from "./errors.js";

/**
 * The `sandbox:` section's schema belongs to the policy (src/policy/sections/sandbox.ts). It is
 * loaded only when something must be validated (a policy file, a profile built in code): the
 * policy module is large, and `gatehouse run` without `--policy` needs none of it.
 */
const loadSchemas = async (): Promise<Pick<typeof PolicyModule, "SandboxPolicySchema" | "SandboxProfileSchema">> => import("../policy/index.js");

/** `sandbox:` sections this module validated itself (parsed from a policy file), not re-checked. */
const validated = new WeakSet<object>();

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
export async function resolveProfile(name: string, config: SandboxProfileConfig, baseDir?: string): Promise<ResolvedProfile> {
  const { SandboxProfileSchema } = await loadSchemas();
  const parsed = SandboxProfileSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue ? issue.path.join(".") : "";
    throw new SandboxError("profile-invalid", `profile \`${name}\`${field ? ` ${field}` : ""}: ${issue?.message ?? "invalid"}`, "see docs/sandbox.md for the profile fields");
  }
  return fillProfile(name, parsed.data, baseDir);
}

/** Fills in defaults of a profile already validated (or built in). */
function fillProfile(name: string, c: SandboxProfileConfig, baseDir?: string): ResolvedProfile {
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
export async function profilesOf(policy: SandboxPolicy | undefined): Promise<ReadonlyMap<string, ResolvedProfile>> {
  const map = new Map<string, ResolvedProfile>();
  for (const [name, config] of Object.entries(BUILTIN_PROFILES)) map.set(name, fillProfile(name, config));
  if (!policy) return map;
  let config = policy.config;
  if (!validated.has(config)) {
    // Built in code rather than parsed from a file: validate it whole, as the file would be.
    const { SandboxPolicySchema } = await loadSchemas();
    const parsed = SandboxPolicySchema.safeParse(config);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SandboxError("profile-invalid", `sandbox.${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`, "see docs/sandbox.md for the profile fields");
    }
    config = parsed.data;
  }
  for (const [name, profile] of Object.entries(config.profiles ?? {})) map.set(name, fillProfile(name, profile, policy.baseDir));
  return map;
}

/** Names of the profiles a policy offers (built-ins included), without validating it. */
export function profileNamesOf(policy: SandboxPolicy | undefined): string[] {
  return [...new Set([...Object.keys(BUILTIN_PROFILES), ...Object.keys(policy?.config.profiles ?? {})])].sort();
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
export async function parseSandboxPolicy(text: string, file: string, baseDir: string): Promise<SandboxPolicy> {
  // Loaded here, not at start-up: most runs have no policy file to parse.
  const { isMap, isScalar, LineCounter, parseDocument } = await import("yaml");
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
  const { SandboxPolicySchema } = await loadSchemas();
  const parsed = SandboxPolicySchema.safeParse(section);
  if (parsed.success) {
    validated.add(parsed.data);
    return { config: parsed.data, baseDir };
  }
  const messages = parsed.error.issues.map((issue) => {
    const path = ["sandbox", ...issue.path.map(String)];
    const node = nodeAt(doc.contents, path, isMap, isScalar);
    const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
    return `${file}:${pos?.line ?? 0}:${pos?.col ?? 0} ${path.join(".")}: ${issue.message}`;
  });
  throw new SandboxError("profile-invalid", messages.join("\n"), "see docs/sandbox.md for the profile fields");
}

type YamlGuards = Pick<typeof Yaml, "isMap" | "isScalar">;

/** The deepest YAML node along `path` (a parent stands in for a missing key). */
function nodeAt(node: unknown, path: readonly string[], isMap: YamlGuards["isMap"], isScalar: YamlGuards["isScalar"]): YamlNode | undefined {
  let current = node as YamlNode | undefined;
  for (const key of path) {
    if (!isMap(current)) return current;
    const pair = current.items.find((p) => isScalar(p.key) && String(p.key.value) === key);
    if (!pair) return current;
    current = (pair.value as YamlNode | null) ?? (pair.key as YamlNode);
  }
  return current;
}

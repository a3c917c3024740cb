import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { arch, homedir, tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { canonicalJson, sha256Hex, type AuditEvent, type AuditSink, type Check } from "../core/index.js";
import { BLOCK_FD, buildBwrapArgs, SECCOMP_FD, STATUS_FD } from "./bwrap.js";
import { BWRAP_MIN_VERSION, probeHost, scratchRoot, type HostCapabilities } from "./doctor.js";
import { buildEnvironment } from "./environment.js";
import { SandboxError } from "./errors.js";
import { planFilesystem, type FilesystemPlan, type MountOp } from "./filesystem.js";
import { inspectDecoys } from "./decoys.js";
import { checkGitDirs, snapshotGitDirs, snapshotIndexes } from "./gitguard.js";
import { openPinRegistry } from "./pins.js";
import { createRunCgroups, prlimitArgs, ulimitScript, type RunCgroups } from "./limits.js";
import { bridgeToTcp, PROXY_PORT, startForwarder, type Forwarder } from "./network.js";
import { profileNamesOf, profilesOf, type ResolvedProfile, type SandboxPolicy } from "./profile.js";
import { buildSeccompFilter } from "./seccomp.js";
import { classifyStderr, MAX_CLASSIFIED_STDERR, type Violation } from "./violations.js";
import { applyWidenings, askWidening, parseWidenings } from "./widen.js";

/** Dependencies of a sandbox instance; one instance per policy, no shared state between them. */
export interface SandboxDeps {
  /** The `sandbox:` policy section; the built-in profiles apply without it. */
  readonly policy?: SandboxPolicy;
  /** Receives a decision event before and an outcome event after every run (a rejection refuses the run). */
  readonly auditSink: AuditSink;
  /** Gatehouse's data directory (audit log, keys); never visible inside. Default: $XDG_DATA_HOME/gatehouse or ~/.local/share/gatehouse. */
  readonly dataDir?: string;
  /** The environment runs draw their allow-listed variables from (default `process.env`). */
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
  /** Host capabilities; probed with `probeHost()` when omitted. */
  readonly host?: HostCapabilities;
  /** Where the egress proxy listens on the host (overrides the policy's `sandbox.proxy`). */
  readonly proxy?: EgressTarget;
  /** Where per-run directories are created (default the OS temp directory). */
  readonly tmpRoot?: string;
  readonly clock?: () => Date;
  /**
   * The approvals module's gate check (`createApprovals(…).check`): asked before a run that
   * widens its profile (`RunOptions.widen`). Without it every widening is refused.
   */
  readonly approvals?: { readonly check: Check };
  /**
   * Files of Gatehouse's own that live outside the data directory and must never be visible to a
   * run (an `--approvals-db`, a server's audit or approvals database): masked where visible, and a
   * run whose writable directories hold one is refused. SQLite's `-wal`, `-shm` and `-journal`
   * files beside each are masked too.
   */
  readonly hiddenFiles?: readonly string[];
  /**
   * The proxy credentials a networked run presents (`HTTP_PROXY=http://AGENT:TOKEN@…`): Gatehouse's
   * egress proxy answers 407 to a request without them. Called once per run with its id, e.g. to
   * mint an egress run token for that run; the token names the run, never an upstream secret.
   */
  readonly egressCredentials?: (runId: string) => { readonly agent: string; readonly token: string };
}

/** The egress proxy as the host sees it: a Unix socket path or a loopback `host:port`. */
export type EgressTarget = { readonly socket: string } | { readonly address: string };

/** Options of one run. */
export interface RunOptions {
  /** Profile name (default: the policy's `defaultProfile`, else `build`). */
  readonly profile?: string;
  /** Directory to run in: inside the profile's workdir; when the profile names none, it is the workdir. */
  readonly cwd?: string;
  /** Variables offered to the run on top of the host environment (still allow-listed). */
  readonly env?: Readonly<Record<string, string>>;
  /** The agent run this command belongs to, for the audit log. */
  readonly run?: string;
  /**
   * Widen the profile for this run: `network`, `readable=PATH`, `writable=PATH`,
   * `writable-protected=REL`. Runs only under a live approval or grant for exactly this widening
   * (see docs/sandbox.md); otherwise the run is refused with `widening-unapproved` and a request
   * waits for an approver.
   */
  readonly widen?: readonly string[];
  /** Who asks for a widening (the agent); default `sandbox`. An approver can never answer for themselves. */
  readonly agent?: string;
  /** On whose behalf the agent acts, for the approval request. */
  readonly principal?: string;
  readonly onStdout?: (chunk: Buffer) => void;
  readonly onStderr?: (chunk: Buffer) => void;
  /** Called once per violation as soon as it is known. */
  readonly onViolation?: (violation: Violation, runId: string) => void;
  /** Called with warnings before the command starts (e.g. `isolation: none`). */
  readonly onWarning?: (message: string) => void;
}

/** Resources one run used. */
export interface RunUsage {
  readonly wallMs: number;
  readonly cpuMs?: number;
  readonly peakMemoryBytes?: number;
  readonly outputBytes: number;
}

/** What a run came to. */
export interface RunResult {
  readonly runId: string;
  readonly profile: string;
  readonly isolation: "bubblewrap" | "none";
  /** The command's exit code; 124 on timeout; 128+N when a signal ended it. */
  readonly exitCode: number;
  readonly signal?: string;
  readonly timedOut: boolean;
  readonly violations: readonly Violation[];
  readonly warnings: readonly string[];
  readonly usage: RunUsage;
}

/** A sandbox bound to one policy. */
export interface Sandbox {
  readonly host: HostCapabilities;
  /** Names of the profiles this instance knows (built-ins plus the policy's). */
  profileNames(): string[];
  /**
   * Runs `command` (an argument vector, never a shell string) under a profile. Resolves with
   * the exit code, violations and usage; rejects with `SandboxError` when nothing ran.
   */
  run(command: readonly string[], options?: RunOptions): Promise<RunResult>;
  /** Resolves once every finished run's cgroups and per-run directory are removed. */
  drain(): Promise<void>;
}

const SIGNALS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGXCPU: 24, SIGXFSZ: 25, SIGSYS: 31 };

/** Default data directory, as the audit store computes it. */
export function defaultDataDir(env: Readonly<Record<string, string | undefined>>, home: string): string {
  const xdg = env.XDG_DATA_HOME;
  return xdg && isAbsolute(xdg) ? join(xdg, "gatehouse") : join(home, ".local", "share", "gatehouse");
}

/**
 * Creates a sandbox for one policy.
 *
 * @example
 * const sandbox = createSandbox({ auditSink, policy });
 * const result = await sandbox.run(["npm", "test"], { profile: "build", onStdout: (b) => process.stdout.write(b) });
 */
export function createSandbox(deps: SandboxDeps): Sandbox {
  const host = deps.host ?? probeHost();
  // Resolved (and, for a policy built in code, validated) on the first run; a bad policy refuses every run.
  let profilesReady: Promise<ReadonlyMap<string, ResolvedProfile>> | undefined;
  const clock = deps.clock ?? (() => new Date());
  let seccomp: Buffer | undefined;
  const pending = new Set<Promise<unknown>>();
  const filter = (): Buffer => (seccomp ??= buildSeccompFilter(arch()));
  // Approvals and grants for widenings are bound to this policy's sandbox section: edit it, and
  // earlier grants no longer apply.
  let digest: string | undefined;
  // The egress proxy a `network` widening leads to is part of what the approver approves.
  const policyDigest = (): string =>
    (digest ??= sha256Hex(canonicalJson(JSON.parse(JSON.stringify({ sandbox: deps.policy?.config ?? {}, baseDir: deps.policy?.baseDir ?? null, proxy: deps.proxy ?? null })) as unknown)));
  // Where control files go (a memory file system when there is one); learned once.
  const scratch = scratchRoot(deps.hostEnv ?? process.env);
  const hiddenFiles = (deps.hiddenFiles ?? []).flatMap((f) => [f, `${f}-wal`, `${f}-shm`, `${f}-journal`]);

  async function run(command: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    if (!Array.isArray(command) || command.length === 0 || typeof command[0] !== "string" || command[0] === "") {
      throw new SandboxError("command-missing", "no command to run", "give the command after `--`, e.g. `gatehouse run -- npm test`");
    }
    if (command.some((a) => typeof a !== "string" || a.includes("\0"))) {
      throw new SandboxError("command-missing", "command arguments must be strings without NUL bytes");
    }
    const profiles = await (profilesReady ??= profilesOf(deps.policy));
    const name = options.profile ?? deps.policy?.config.defaultProfile ?? "build";
    const named = profiles.get(name);
    if (!named) {
      const known = [...profiles.keys()].sort();
      throw new SandboxError("profile-unknown", `no sandbox profile \`${name}\``, `known profiles: ${known.join(", ")}`);
    }
    const runId = randomUUID();
    const realEnv = deps.hostEnv ?? process.env;
    const hostEnv = { ...realEnv, ...(options.env ?? {}) };
    // Where the credential stores and Gatehouse's data live is a fact of the host, never of the
    // caller's `env`: `env: { HOME: "/tmp/x" }` must not move the masks off the real ~/.ssh.
    const home = realEnv.HOME && isAbsolute(realEnv.HOME) && realEnv.HOME !== "/" ? realEnv.HOME : homedir();
    const dataDir = deps.dataDir ?? defaultDataDir(realEnv, home);
    const runCwd = options.cwd ?? process.cwd();
    const askedFor = options.widen !== undefined && options.widen.length > 0 ? options.widen : undefined;
    // Resolved once, inside the audited refusal path below; the run binds exactly these real paths.
    let widen: { values: string[]; cwd: string } | undefined;
    const args: Record<string, unknown> = { command: command.map(String), profile: name, cwd: runCwd, ...(askedFor ? { widen: [...askedFor].map(String) } : {}) };
    const event = (e: Omit<AuditEvent, "time" | "action" | "tool" | "args">): AuditEvent => ({
      time: clock().toISOString(),
      action: runId,
      tool: "sandbox.run",
      args,
      ...(options.run !== undefined ? { run: options.run } : {}),
      ...e,
    });
    const warnings: string[] = [];
    const configured = deps.policy?.config.proxy;
    const proxy: EgressTarget | undefined = deps.proxy ?? (configured?.socket ? { socket: configured.socket } : configured?.address ? { address: configured.address } : undefined);
    let profile = named;
    const approvalIds: string[] = [];
    let approvalCode: "allowed-by-grant" | "allowed-by-approval" = "allowed-by-grant";
    try {
      if (askedFor) {
        widen = wideningsOf(askedFor, named.isolation, home, runCwd);
        args.widen = widen.values;
      }
      if (profile.isolation === "none") {
        warnings.push(`profile \`${name}\` has isolation: none; the command runs UNSANDBOXED with your full access`);
      } else {
        checkHost(host, profile);
        if (widen) {
          if (!deps.approvals) {
            throw new SandboxError("widening-unapproved", `widening profile \`${name}\` (${widen.values.join(", ")}) needs an approval, and no approvals module is configured`, "widening is a human act: configure approvals (gatehouse serve) and ask an approver");
          }
          // Everything that can be checked without a person is checked first, so a grant's use is
          // never spent on a run that would be refused anyway (e.g. no egress proxy for `network`).
          const wider = applyWidenings(profile, widen.values);
          if (wider.network === "proxy") checkProxy(proxy, host);
          const proxyTarget = wider.network === "proxy" && proxy ? ("socket" in proxy ? `unix:${proxy.socket}` : `tcp:${proxy.address}`) : undefined;
          const verdict = await askWidening(deps.approvals.check, { profile: name, cwd: widen.cwd, widen: widen.values, ...(proxyTarget ? { proxy: proxyTarget } : {}) }, {
            agent: options.agent ?? "sandbox",
            policyDigest: policyDigest(),
            ...(options.principal !== undefined ? { principal: options.principal } : {}),
            ...(options.run !== undefined ? { run: options.run } : {}),
          }).catch((error: unknown) => {
            throw new SandboxError("widening-unapproved", `the approvals check failed, so the widening is refused: ${error instanceof Error ? error.message : String(error)}`, "fix the approvals store; nothing ran");
          });
          if (!verdict.allowed) {
            const request = verdict.decision.approval?.id;
            throw new SandboxError(
              "widening-unapproved",
              `widening profile \`${name}\` (${widen.values.join(", ")}) is not approved: ${verdict.decision.reasons.join("; ")}`,
              request && verdict.decision.verdict === "ask" ? `an approver runs \`gatehouse approvals approve ${request} --grant 1h\`; then run again` : "ask an approver for a grant; nothing ran",
            );
          }
          profile = wider;
          approvalIds.push(verdict.approval.id);
          approvalCode = verdict.decision.code === "allowed-by-approval" ? "allowed-by-approval" : "allowed-by-grant";
          warnings.push(`profile \`${name}\` widened (${widen.values.join(", ")}) by ${verdict.decision.code === "allowed-by-grant" ? "grant" : "approval"} ${verdict.approval.id}, valid until ${verdict.approval.expiresAt}`);
        }
        if (profile.network === "proxy") checkProxy(proxy, host);
      }
    } catch (error) {
      // Fail closed, and leave a trace: a host that cannot isolate is worth an audit record.
      const reason = error instanceof Error ? error.message : String(error);
      await deps.auditSink.append(event({ type: "decision", decision: { verdict: "deny", code: "denied-by-default", rules: [`sandbox.profiles.${name}`], reasons: [reason] } })).catch(() => undefined);
      throw error;
    }
    try {
      await deps.auditSink.append(
        event({
          type: "decision",
          decision: { verdict: "allow", code: approvalIds.length > 0 ? approvalCode : "allowed-by-rule", rules: [`sandbox.profiles.${name}`], reasons: [`run under sandbox profile \`${name}\``, ...warnings] },
          ...(approvalIds.length > 0 ? { approvals: approvalIds } : {}),
        }),
      );
    } catch (error) {
      throw new SandboxError("audit-unavailable", `the audit log refused the run record: ${String(error)}`, "fix the audit store; nothing runs unrecorded");
    }
    for (const w of warnings) options.onWarning?.(w);
    const started = performance.now();
    let result: RunResult;
    try {
      result = profile.isolation === "none"
        ? await runUnsandboxed(command, profile, runId, hostEnv, home, warnings, options, started)
        : await runIsolated(command, profile, runId, hostEnv, home, dataDir, proxy, options, started, realEnv, widen ? exactPathsOf(widen.values) : []);
    } catch (error) {
      await deps.auditSink
        .append(event({ type: "outcome", ...(approvalIds.length > 0 ? { approvals: approvalIds } : {}), outcome: { status: "error", error: error instanceof Error ? error.message : String(error), durationMs: Math.round(performance.now() - started) } }))
        .catch(() => undefined);
      throw error;
    }
    if (approvalIds.length > 0) result = { ...result, warnings: [...result.warnings, ...warnings] };
    await deps.auditSink.append(
      event({
        type: "outcome",
        ...(approvalIds.length > 0 ? { approvals: approvalIds } : {}),
        outcome: {
          status: result.exitCode === 0 && result.violations.length === 0 ? "ok" : "error",
          result: { exitCode: result.exitCode, signal: result.signal, timedOut: result.timedOut, violations: result.violations, usage: result.usage, isolation: result.isolation, warnings: result.warnings },
          durationMs: result.usage.wallMs,
        },
      }),
    ).catch((error: unknown) => {
      throw new SandboxError("audit-unavailable", `the run finished (exit ${result.exitCode}) but the audit log refused its outcome: ${String(error)}`, "fix the audit store");
    });
    return result;
  }

  async function runIsolated(
    command: readonly string[],
    profile: ResolvedProfile,
    runId: string,
    hostEnv: Readonly<Record<string, string | undefined>>,
    home: string,
    dataDir: string,
    proxy: EgressTarget | undefined,
    options: RunOptions,
    started: number,
    gitEnv: Readonly<Record<string, string | undefined>>,
    exactPaths: readonly string[],
  ): Promise<RunResult> {
    const limits = profile.limits;
    // Built (once per instance) before anything is created or spawned: an unsupported
    // architecture refuses the run here, with nothing to clean up.
    const seccompFilter = filter();
    const pins = openPinRegistry(deps.tmpRoot ?? tmpdir());
    // What the run can write (its /tmp, the decoys) and the quarantine go to the OS temp directory
    // (it may be large; on disk a run cannot fill the host's memory); its read-only control files
    // (masks, seccomp filter, index copies) to a memory file system where there is one (scratchRoot).
    const runDir = mkdtempSync(join(deps.tmpRoot ?? tmpdir(), "gatehouse-run-"));
    let ctlDir = runDir;
    if (deps.tmpRoot === undefined && scratch !== tmpdir()) {
      try {
        ctlDir = mkdtempSync(join(scratch, "gatehouse-ctl-"));
      } catch {
        // the memory file system refused: the control files stay with the run directory
      }
    }
    let plan: FilesystemPlan | undefined;
    let cgroups: RunCgroups | undefined;
    let bridge: { close(): void } | undefined;
    try {
      mkdirSync(join(runDir, "tmp"), { mode: 0o700 });
      plan = planFilesystem({
        workdir: profile.workdir ?? options.cwd ?? process.cwd(),
        baseDir: profile.baseDir ?? process.cwd(),
        workdirFromProfile: profile.workdir !== undefined,
        ...(profile.workdir !== undefined && options.cwd !== undefined ? { cwd: options.cwd } : {}),
        workdirAccess: profile.workdirAccess,
        readable: profile.readable,
        writable: profile.writable,
        writableProtected: profile.writableProtected,
        home,
        dataDir,
        runDir: ctlDir,
        tmpDir: join(runDir, "tmp"),
        decoyDir: runDir,
        homeSizeBytes: Math.min(limits.memoryMb, 1024) * 1024 * 1024,
        gitEnv,
        // Always planted (the same view on every host); `gatehouse doctor` warns where access
        // times do not move, and there they simply never report.
        decoys: true,
        exactPaths,
        extraDenied: hiddenFiles,
      });
      pins.register(runId, plan.pinned);
      // What the writable git directories hold before the run; compared after it (gitguard.ts).
      const gitSnapshot = snapshotGitDirs(plan.gitDirs);
      const indexSnapshot = snapshotIndexes(plan.gitWorktrees, plan.writableRoots, join(ctlDir, "index-before"));
      const gitSince = Date.now() - 1000;
      cgroups = createRunCgroups(host.cgroups, runId, limits);
      if (!cgroups?.hasPids && !host.nprocRlimit) {
        throw new SandboxError("limit-unenforceable", "the process limit cannot be enforced on this host", "see `gatehouse doctor`");
      }
      const networked = profile.network === "proxy";
      let upstream = proxy && "socket" in proxy ? proxy.socket : undefined;
      if (networked && proxy && "address" in proxy) {
        upstream = join(ctlDir, "egress.sock");
        bridge = await bridgeToTcp(upstream, proxy.address);
      }
      const mounts: MountOp[] = [...plan.mounts];
      const owned: Record<string, string> = { HOME: home, TMPDIR: "/tmp" };
      if (networked) {
        const resolv = join(ctlDir, "resolv.conf");
        writeFileSync(resolv, "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
        mounts.push({ op: "ro-bind", src: resolv, dest: "/etc/resolv.conf" });
        const credentials = deps.egressCredentials?.(runId);
        const login = credentials ? `${encodeURIComponent(credentials.agent)}:${encodeURIComponent(credentials.token)}@` : "";
        const proxy = `http://${login}127.0.0.1:${PROXY_PORT}`;
        Object.assign(owned, { HTTP_PROXY: proxy, HTTPS_PROXY: proxy, http_proxy: proxy, https_proxy: proxy, ALL_PROXY: proxy, NO_PROXY: "", no_proxy: "" });
      }
      const env = buildEnvironment(hostEnv, profile.envAllow, profile.envSet, owned);
      const fallbacks = { addressSpace: !cgroups?.hasMemory, processes: !cgroups?.hasPids };
      // With cgroups, a shell joins them before it execs bwrap, so nothing escapes accounting; it
      // sets the rlimits too (inherited by everything inside). Without, prlimit runs first inside.
      const ulimits = cgroups ? ulimitScript(limits, fallbacks) : undefined;
      const inner = ulimits ? [...command] : [host.prlimit!, ...prlimitArgs(limits, fallbacks), "--", ...command];
      const bwrapArgs = buildBwrapArgs({ mounts, cwd: plan.cwd, network: profile.network, block: networked, argv: inner });
      const [file, argv] = cgroups
        ? ["/bin/sh", ["-c", `${ulimits ? `${ulimits}; ` : ""}while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"`, "sh", ...cgroups.procsFiles, "--", host.bwrap!.path, ...bwrapArgs]]
        : [host.bwrap!.path, bwrapArgs];
      // The filter goes to bwrap as a read-only file descriptor, not a pipe: a pipe written after
      // an early bwrap exit raises EPIPE (an unhandled stream error would crash the caller), and a
      // file cannot be half-read. The file sits in the run's private directory, never bound inside.
      const filterFile = join(ctlDir, "seccomp.bpf");
      writeFileSync(filterFile, seccompFilter, { mode: 0o400 });
      const filterFd = openSync(filterFile, "r");
      let child: ChildProcess;
      try {
        child = spawn(file, argv, { env, stdio: stdioFor(filterFd, networked) });
      } finally {
        closeSync(filterFd);
      }
      // Every pipe gets an error listener: a stream error (EPIPE, ECONNRESET) after bwrap dies
      // early is part of the run's failure, handled by supervise, never an uncaught exception.
      for (const stream of child.stdio) (stream as Readable | Writable | null)?.on("error", () => undefined);
      const outcome = await supervise(child, {
        bwrap: true,
        runId,
        limits,
        cgroups,
        options,
        onChildPid: networked
          ? async (pid) => {
              const fwd = await startForwarder(host.nsenter!, pid, upstream!, env);
              const release = (child.stdio as unknown[])[BLOCK_FD] as Writable | null;
              if (!release || release.destroyed || child.exitCode !== null || child.signalCode !== null) {
                fwd.stop();
                throw new SandboxError("setup-failed", "bubblewrap exited before the command could be released", "run `gatehouse doctor`");
              }
              release.end("1");
              return fwd;
            }
          : undefined,
      });
      // The sandbox's process tree is dead now (its PID namespace went with bwrap): undo what it
      // planted in git directories before anyone on the host runs git there. A check that cannot
      // finish fails the run.
      let gitFindings;
      try {
        if (gitSnapshot.length > 0 && cgroups) await untilEmpty(cgroups);
        gitFindings = checkGitDirs(gitSnapshot, join(runDir, "quarantine"), {
          worktrees: plan.gitWorktrees,
          before: new Set(plan.gitEntries),
          beforeIds: plan.gitEntryIds,
          beforeRepositories: plan.repositories,
          writableRoots: plan.writableRoots,
          sinceMs: gitSince,
          env: gitEnv,
          indexes: indexSnapshot,
          placeholders: plan.placeholders.map((p) => p.path),
        });
      } catch (error) {
        throw new SandboxError("git-check-failed", `the command ran, but the check of its git directories after the run failed: ${error instanceof Error ? error.message : String(error)}`, `inspect ${plan.gitDirs.map((d) => `\`${d}\``).join(", ")} for planted files (commondir, config.worktree, rebase-*) before running git there`);
      }
      // After the git check, which waited for the run's last processes where it had to.
      for (const f of inspectDecoys(plan.decoys)) {
        const v: Violation = { ...f, evidence: "decoy" };
        outcome.violations.push(v);
        outcome.reported.add(v);
        options.onViolation?.(v, runId);
      }
      for (const f of gitFindings) {
        const v: Violation = { kind: "denied-write", path: f.path, detail: f.detail, evidence: "runner" };
        outcome.violations.push(v);
        outcome.reported.add(v);
        options.onViolation?.(v, runId);
      }
      if (outcome.setupError) {
        const unknown = /Unknown option (--[a-z0-9-]+)/.exec(outcome.setupError)?.[1];
        if (unknown) {
          throw new SandboxError("isolation-unavailable", `the installed bubblewrap does not know \`${unknown}\`, which the sandbox needs; nothing ran`, `install bubblewrap ${BWRAP_MIN_VERSION} or newer (see \`gatehouse doctor\`)`);
        }
        throw new SandboxError("setup-failed", `bubblewrap could not set up the sandbox: ${outcome.setupError}`, "run `gatehouse doctor`");
      }
      if (outcome.forwarderError !== undefined) {
        throw outcome.forwarderError instanceof SandboxError ? outcome.forwarderError : new SandboxError("proxy-unavailable", outcome.forwarderError instanceof Error ? outcome.forwarderError.message : "the egress forwarder failed");
      }
      const report = cgroups?.report();
      const violations: Violation[] = plan.findings.map((f) => ({ ...f, evidence: "runner" as const }));
      violations.push(...outcome.violations);
      if (report?.oomKilled) violations.push({ kind: "limit", limit: "memory", detail: `memory limit of ${limits.memoryMb} MiB reached; the kernel killed a process`, evidence: "kernel" });
      if (report?.pidsLimitHit) violations.push({ kind: "limit", limit: "processes", detail: `process limit of ${limits.processes} reached; forks were refused`, evidence: "kernel" });
      if (outcome.signal === "SIGXCPU" || outcome.exitCode === 128 + 24) violations.push({ kind: "limit", limit: "cpu", detail: `CPU limit of ${limits.cpuSeconds} s reached`, evidence: "kernel" });
      if (outcome.signal === "SIGXFSZ" || outcome.exitCode === 128 + 25) violations.push({ kind: "limit", limit: "file-size", detail: `file size limit of ${limits.fileSizeMb} MiB reached`, evidence: "kernel" });
      if (outcome.signal === "SIGSYS" || outcome.exitCode === 128 + 31) violations.push({ kind: "blocked-syscall", detail: "a forbidden system call ended the command", evidence: "kernel" });
      for (const name of outcome.dnsQueries) violations.push({ kind: "blocked-connection", detail: `direct DNS lookup of \`${name}\` refused`, evidence: "proxy" });
      const deniedPaths = plan.mounts.filter((m): m is Extract<MountOp, { src: string }> => m.op === "ro-bind" && /\/\/mask-(file|dir)(-\d+)?$/.test(m.src)).map((m) => m.dest);
      const workdir = plan.workdir;
      const resolveOnHost = (path: string): string => {
        if (!path.startsWith(workdir)) return path;
        try {
          return realpathSync(path);
        } catch {
          return path;
        }
      };
      // A decoy already told of a read there, with better evidence than the program's own words.
      const seenOnDecoys = new Set(outcome.violations.filter((v) => v.evidence === "decoy" && v.kind === "denied-read").map((v) => v.path));
      violations.push(...classifyStderr(outcome.stderrHead, { cwd: plan.cwd, hidden: plan.hiddenRoots, denied: deniedPaths, protected: plan.pinned, resolve: resolveOnHost }).filter((v) => !(v.kind === "denied-read" && seenOnDecoys.has(v.path))));
      const unique = dedupe(violations);
      for (const v of unique) if (!outcome.reported.has(v)) options.onViolation?.(v, runId);
      return {
        runId,
        profile: profile.name,
        isolation: "bubblewrap",
        // A run whose plant had to be quarantined failed, whatever the command itself returned.
        exitCode: outcome.exitCode === 0 && gitFindings.length > 0 ? GIT_QUARANTINE_EXIT : outcome.exitCode,
        ...(outcome.signal ? { signal: outcome.signal } : {}),
        timedOut: outcome.timedOut,
        violations: unique,
        warnings: [],
        usage: {
          wallMs: Math.round(performance.now() - started),
          ...(cgroups?.cpuMs() !== undefined ? { cpuMs: cgroups.cpuMs()! } : {}),
          ...(report?.peakMemoryBytes !== undefined ? { peakMemoryBytes: report.peakMemoryBytes } : {}),
          outputBytes: outcome.outputBytes,
        },
      };
    } catch (error) {
      if (error instanceof SandboxError) throw error;
      throw new SandboxError("setup-failed", `the sandbox could not be set up: ${error instanceof Error ? error.message : String(error)}`, "run `gatehouse doctor`");
    } finally {
      bridge?.close();
      // The tree is already dead (its PID namespace went with bwrap). Placeholders in the
      // caller's directories go now (the registry leaves one that a concurrent run in the same
      // directory still pins to whichever run finishes last); removing the cgroups and the
      // per-run directory waits on the kernel and the disk, so it finishes after the result, and
      // drain() waits for it.
      const groups = cgroups;
      const planned = plan;
      // Placeholders go before the caller has the result: after run() the host holds none of them.
      try {
        if (planned) pins.release(runId, planned.placeholders);
      } catch {
        // left for the registry: the last run in that directory removes them
      }
      const cleanup = (async () => {
        // After the caller has its result (a macrotask later), not in the same microtask run.
        await new Promise((r) => setImmediate(r));
        if (groups) {
          groups.killAll();
          await removeWithRetry(groups);
        }
        // Stand-ins for denied directories are execute-only; make them removable first.
        for (const d of planned?.standIns ?? []) restoreModes(d);
        for (const dir of new Set([ctlDir, runDir])) {
          await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(async () => {
            // The run can chmod what it wrote (in /tmp, in a decoy) so that its owner cannot remove
            // it, or nest it deeper than PATH_MAX (Node's rm walks by full path: ENAMETOOLONG);
            // coreutils rm walks by directory descriptor and never follows links.
            restoreModes(dir);
            await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => removeTree(dir));
          });
        }
      })().catch(() => undefined);
      pending.add(cleanup);
      void cleanup.finally(() => pending.delete(cleanup));
    }
  }

  async function runUnsandboxed(
    command: readonly string[],
    profile: ResolvedProfile,
    runId: string,
    hostEnv: Readonly<Record<string, string | undefined>>,
    home: string,
    warnings: readonly string[],
    options: RunOptions,
    started: number,
  ): Promise<RunResult> {
    const env = buildEnvironment(hostEnv, profile.envAllow, profile.envSet, { HOME: home });
    const child = spawn(command[0]!, command.slice(1), { cwd: options.cwd ?? (profile.workdir !== undefined ? resolve(profile.baseDir ?? process.cwd(), profile.workdir) : process.cwd()), env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    for (const stream of [child.stdout, child.stderr]) stream?.on("error", () => undefined);
    const outcome = await supervise(child, { bwrap: false, runId, limits: profile.limits, cgroups: undefined, options, onChildPid: undefined, groupKill: true });
    return {
      runId,
      profile: profile.name,
      isolation: "none",
      exitCode: outcome.exitCode,
      ...(outcome.signal ? { signal: outcome.signal } : {}),
      timedOut: outcome.timedOut,
      violations: outcome.violations,
      warnings,
      usage: { wallMs: Math.round(performance.now() - started), outputBytes: outcome.outputBytes },
    };
  }

  const drain = async (): Promise<void> => {
    while (pending.size > 0) await Promise.all([...pending]);
  };
  return { host, profileNames: () => profileNamesOf(deps.policy), run, drain };
}

/**
 * Waits (up to ~2 s, killing as it goes) until no process is left in the run's cgroups: the PID
 * namespace dies with bwrap, but the kernel reaps its members asynchronously. Throws if some stay.
 */
async function untilEmpty(cgroups: RunCgroups): Promise<void> {
  for (let i = 0, waited = 0; waited < 2000; i++) {
    const live = cgroups.procsFiles.some((f) => {
      try {
        return readFileSync(f, "utf8").trim() !== "";
      } catch {
        return false;
      }
    });
    if (!live) return;
    cgroups.killAll();
    // Usually gone within a millisecond or two: poll fast first.
    const delay = Math.min(20, 2 ** Math.min(i, 5));
    waited += delay;
    await new Promise((r) => setTimeout(r, delay));
  }
  throw new Error("processes of the run are still alive");
}

/**
 * `chmod -R u+rwx` then `rm -rf --one-file-system` (coreutils), for trees Node's rm cannot remove:
 * both walk by directory descriptor (no PATH_MAX) and never follow symbolic links.
 */
async function removeTree(dir: string): Promise<void> {
  const coreutils = (file: string, args: string[]): Promise<number | null> =>
    new Promise((resolve, reject) => {
      const child = spawn(file, args, { stdio: "ignore" });
      child.on("error", reject);
      child.on("close", resolve);
    });
  await coreutils("/bin/chmod", ["-R", "u+rwx", "--", dir]);
  const code = await coreutils("/bin/rm", ["-rf", "--one-file-system", "--", dir]);
  if (code !== 0) throw new Error(`rm -rf exited ${String(code)}`);
}

/** Gives the owner back access to a stand-in tree so it can be removed. */
function restoreModes(dir: string): void {
  try {
    chmodSync(dir, 0o700);
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) restoreModes(join(dir, e.name));
  } catch {
    // removed already
  }
}

/** The real paths of approved `readable=`/`writable=` widenings (resolved once, when asked). */
function exactPathsOf(values: readonly string[]): string[] {
  return values.filter((w) => w.startsWith("readable=") || w.startsWith("writable=")).map((w) => w.slice(w.indexOf("=") + 1));
}

/** Canonical widenings and the real directory they are asked for; throws `widening-invalid`. */
function wideningsOf(values: readonly string[], isolation: ResolvedProfile["isolation"], home: string, cwd: string): { values: string[]; cwd: string } {
  if (!Array.isArray(values)) throw new SandboxError("widening-invalid", "widen must be a list of widenings");
  if (isolation === "none") throw new SandboxError("widening-invalid", "a profile with isolation: none has nothing to widen");
  let real: string;
  try {
    real = realpathSync(cwd);
  } catch {
    throw new SandboxError("workdir-invalid", `directory \`${cwd}\` does not exist`, "create it or fix the path");
  }
  return { values: parseWidenings(values, { home, cwd: real }), cwd: real };
}

function checkHost(host: HostCapabilities, profile: ResolvedProfile): void {
  const missing = host.bwrap?.missingOptions ?? [];
  if (missing.length > 0) {
    throw new SandboxError(
      "isolation-unavailable",
      `this host cannot sandbox \`${profile.name}\`: bubblewrap ${host.bwrap?.version ?? ""} at ${host.bwrap?.path ?? "?"} lacks ${missing.map((o) => `\`${o}\``).join(", ")}`,
      `install bubblewrap ${BWRAP_MIN_VERSION} or newer; nothing ran (see \`gatehouse doctor\`)`,
    );
  }
  if (host.problems.length > 0 || !host.bwrap || !host.userNamespaces || !host.seccomp || !host.prlimit) {
    throw new SandboxError("isolation-unavailable", `this host cannot sandbox \`${profile.name}\`: ${host.problems.join("; ") || "isolation missing"}`, "run `gatehouse doctor`; nothing ran");
  }
}

function checkProxy(proxy: EgressTarget | undefined, host: HostCapabilities): void {
  if (!host.nsenter) throw new SandboxError("proxy-unavailable", "`nsenter` is missing, so the egress forwarder cannot start", "install util-linux");
  if (!proxy) throw new SandboxError("proxy-unavailable", "the profile allows network but no egress proxy is configured", "set sandbox.proxy.socket or sandbox.proxy.address in the policy");
  if ("address" in proxy) {
    if (!/^(127\.0\.0\.1|\[::1\]|localhost):\d{1,5}$/.test(proxy.address)) {
      throw new SandboxError("proxy-unavailable", `the egress proxy address \`${proxy.address}\` is not a loopback host:port`, "the egress proxy runs on this host, e.g. 127.0.0.1:3128");
    }
    return;
  }
  let st;
  try {
    st = statSync(proxy.socket);
  } catch {
    st = undefined;
  }
  if (!st?.isSocket()) throw new SandboxError("proxy-unavailable", `the egress proxy socket \`${proxy.socket}\` does not exist or is not a socket`, "start the egress proxy first");
  // The forwarder hands the sandbox a raw pipe to this socket: it must be Gatehouse's egress proxy,
  // run by this user, never a system daemon's socket (Docker, containerd, D-Bus, systemd).
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new SandboxError("proxy-unavailable", `the egress proxy socket \`${proxy.socket}\` belongs to uid ${st.uid}, not to this user (uid ${uid})`, "point --proxy / sandbox.proxy.socket at the socket of the egress proxy you started");
  }
  const real = (() => {
    try {
      return realpathSync(proxy.socket);
    } catch {
      return proxy.socket;
    }
  })();
  if (SYSTEM_SOCKETS.some((re) => re.test(real))) {
    throw new SandboxError("proxy-unavailable", `\`${proxy.socket}\` is a system daemon's socket, not an egress proxy`, "point --proxy / sandbox.proxy.socket at the socket of the egress proxy you started");
  }
}

/** Sockets of system daemons that a root-run sandbox must never be bridged to. */
const SYSTEM_SOCKETS = [
  /(^|\/)(docker|containerd|podman|crio|cri-dockerd|snapd|libvirt-sock|libvirt-sock-ro|dockershim)\.sock(et)?$/,
  /\/(dbus|systemd|udev|lxd|incus|libvirt|containerd|docker|podman|k3s|kubelet|rke2)\//,
  /(^|\/)(system_bus_socket|ssh-agent[^/]*|agent\.\d+|S\.gpg-agent[^/]*)$/,
];

/** A cgroup can only be removed once its last process is reaped; retry for up to ~5 s. */
async function removeWithRetry(cgroups: RunCgroups): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cgroups.remove()) return;
    cgroups.killAll();
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** stdio of the first process: 0-2, then the seccomp filter, bwrap's status pipe and (networked) the block pipe. */
function stdioFor(filterFd: number, networked: boolean): ("ignore" | "pipe" | number)[] {
  const stdio: ("ignore" | "pipe" | number)[] = ["ignore", "pipe", "pipe"];
  stdio[SECCOMP_FD] = filterFd;
  stdio[STATUS_FD] = "pipe";
  stdio[BLOCK_FD] = networked ? "pipe" : "ignore";
  return stdio;
}

/** Exit code of a run whose command succeeded but whose git plants were quarantined (docs/sandbox.md). */
export const GIT_QUARANTINE_EXIT = 1;

function dedupe(violations: readonly Violation[]): Violation[] {
  const seen = new Set<string>();
  return violations.filter((v) => {
    const key = `${v.kind}|${v.limit ?? ""}|${v.path ?? ""}|${v.detail}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

interface SuperviseInput {
  readonly limits: ResolvedProfile["limits"];
  readonly cgroups: RunCgroups | undefined;
  readonly options: RunOptions;
  readonly onChildPid: ((pid: number) => Promise<Forwarder>) | undefined;
  readonly groupKill?: boolean;
  /** The child is bwrap (it reports on the status fd). */
  readonly bwrap: boolean;
  readonly runId: string;
}

interface SuperviseOutcome {
  readonly exitCode: number;
  readonly signal?: string;
  readonly timedOut: boolean;
  readonly outputBytes: number;
  readonly stderrHead: string;
  readonly violations: Violation[];
  readonly reported: Set<Violation>;
  readonly dnsQueries: readonly string[];
  readonly setupError?: string;
  readonly forwarderError?: unknown;
}

/** Streams output under the cap, enforces the wall clock and CPU budget, and waits for the end. */
function supervise(child: ChildProcess, input: SuperviseInput): Promise<SuperviseOutcome> {
  const { limits, cgroups, options } = input;
  const violations: Violation[] = [];
  const reported = new Set<Violation>();
  let outputBytes = 0;
  let stderrHead = "";
  let timedOut = false;
  let killed = false;
  let forwarder: Forwarder | undefined;
  let forwarderError: unknown;
  let statusText = "";
  let childPidSeen = false;
  let statusExit: number | undefined;

  const kill = (): void => {
    if (killed) return;
    killed = true;
    try {
      if (input.groupKill && child.pid) process.kill(-child.pid, "SIGKILL");
      else child.kill("SIGKILL");
    } catch {
      // already gone
    }
    cgroups?.killAll();
  };
  const violate = (v: Violation): void => {
    violations.push(v);
    reported.add(v);
    options.onViolation?.(v, input.runId);
  };
  const onOutput = (sink: ((chunk: Buffer) => void) | undefined, isErr: boolean) => (chunk: Buffer) => {
    if (killed) return;
    const room = limits.outputBytes - outputBytes;
    const part = chunk.length > room ? chunk.subarray(0, Math.max(0, room)) : chunk;
    outputBytes += part.length;
    if (isErr && stderrHead.length < MAX_CLASSIFIED_STDERR) stderrHead += part.toString("utf8", 0, Math.min(part.length, MAX_CLASSIFIED_STDERR - stderrHead.length));
    if (part.length > 0) sink?.(part);
    if (chunk.length > room) {
      violate({ kind: "limit", limit: "output", detail: `output exceeded ${limits.outputBytes} bytes; the run was stopped`, evidence: "runner" });
      kill();
    }
  };
  child.stdout?.on("data", onOutput(options.onStdout, false));
  child.stderr?.on("data", onOutput(options.onStderr, true));

  const status = child.stdio[STATUS_FD] as Readable | null | undefined;
  status?.on("data", (b: Buffer) => {
    statusText += b.toString();
    let nl;
    while ((nl = statusText.indexOf("\n")) >= 0) {
      const line = statusText.slice(0, nl);
      statusText = statusText.slice(nl + 1);
      let doc: { "child-pid"?: number; "exit-code"?: number };
      try {
        doc = JSON.parse(line) as typeof doc;
      } catch {
        continue;
      }
      if (typeof doc["child-pid"] === "number" && !childPidSeen) {
        childPidSeen = true;
        if (input.onChildPid) {
          input.onChildPid(doc["child-pid"]).then(
            (f) => {
              forwarder = f;
              if (killed) f.stop();
            },
            (error: unknown) => {
              forwarderError = error;
              kill();
            },
          );
        }
      }
      if (typeof doc["exit-code"] === "number") statusExit = doc["exit-code"];
    }
  });
  status?.on("error", () => undefined);

  const timer = setTimeout(() => {
    timedOut = true;
    violate({ kind: "limit", limit: "timeout", detail: `wall-clock limit of ${limits.timeoutSeconds} s reached; the whole process tree was killed`, evidence: "runner" });
    kill();
  }, limits.timeoutSeconds * 1000);
  const cpuPoll = cgroups?.hasCpu
    ? setInterval(() => {
        const used = cgroups.cpuMs();
        if (used !== undefined && used > limits.cpuSeconds * 1000) {
          violate({ kind: "limit", limit: "cpu", detail: `CPU limit of ${limits.cpuSeconds} s reached for the run; it was killed`, evidence: "kernel" });
          kill();
        }
      }, 250)
    : undefined;

  return new Promise((resolve) => {
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (cpuPoll) clearInterval(cpuPoll);
      forwarder?.stop();
      const exitCode = timedOut ? 124 : statusExit ?? (code ?? (signal ? 128 + (SIGNALS[signal] ?? 0) : 1));
      const fromStatus = statusExit !== undefined && statusExit > 128 ? statusExit - 128 : undefined;
      const signalName = fromStatus !== undefined ? Object.keys(SIGNALS).find((k) => SIGNALS[k] === fromStatus) : signal ?? undefined;
      let setupError: string | undefined;
      if (input.bwrap && !killed) {
        if (!childPidSeen) setupError = stderrHead.trim() || `bwrap exited with ${String(code)}`;
        else if (/^bwrap: /.test(stderrHead)) setupError = stderrHead.trim().split("\n")[0];
      }
      resolve({
        exitCode,
        ...(signalName ? { signal: signalName } : {}),
        timedOut,
        outputBytes,
        stderrHead,
        violations,
        reported,
        dnsQueries: forwarder?.dnsQueries ?? [],
        ...(setupError ? { setupError } : {}),
        ...(forwarderError !== undefined ? { forwarderError } : {}),
      });
    };
    child.on("error", (error) => {
      stderrHead += String(error);
      // The program could not be started at all (no 'close' follows reliably): nothing ran.
      if (child.pid === undefined) finish(null, null);
    });
    child.on("close", finish);
  });
}

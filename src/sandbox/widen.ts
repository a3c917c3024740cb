import { realpathSync } from "node:fs";
import { isAbsolute, join, normalize, resolve } from "node:path";
import type { Action, ApprovalRef, Check, Decision } from "../core/index.js";
import { SandboxError } from "./errors.js";
import type { ResolvedProfile } from "./profile.js";

/**
 * Widening a profile for one run (`gatehouse run --widen …`) is a human act: the run asks the
 * approvals module, as the tool `sandbox.widen`, for exactly the widening it wants, and runs only
 * when a person approved that request or gave a grant covering it that is still live (not expired,
 * revoked or used up). Nothing the command says can widen its own profile, and a refused widening
 * never falls back to the narrower run: nothing runs.
 *
 * Widenings, written as the caller gives them:
 * - `network` — the egress proxy as the only route out (`network: proxy`);
 * - `readable=PATH`, `writable=PATH` — an extra host path (`~` is the home directory; relative to
 *   the run's directory); it must exist, and is bound to its real path;
 * - `writable-protected=REL` — a protected path under the working directory (`.git/hooks`).
 */

/** The tool name widening requests and grants are bound to. */
export const WIDEN_TOOL = "sandbox.widen";

/** What a run asks for, canonical (real paths, sorted): the exact arguments a grant must cover. */
export interface WideningRequest {
  readonly profile: string;
  readonly cwd: string;
  readonly widen: readonly string[];
  /** Where a `network` widening leads (`unix:PATH` or `tcp:HOST:PORT`): part of what is approved. */
  readonly proxy?: string;
}

/** Parses and canonicalises `--widen` values; throws `widening-invalid`. */
export function parseWidenings(values: readonly string[], context: { readonly home: string; readonly cwd: string }): string[] {
  const out = new Set<string>();
  for (const raw of values) {
    if (typeof raw !== "string" || raw.includes("\0") || raw.length > 4096) throw invalid(String(raw), "not a widening");
    if (raw === "network") {
      out.add("network");
      continue;
    }
    const eq = raw.indexOf("=");
    const kind = eq > 0 ? raw.slice(0, eq) : raw;
    const value = eq > 0 ? raw.slice(eq + 1) : "";
    if (kind === "readable" || kind === "writable") {
      if (value === "") throw invalid(raw, "give a path, e.g. `writable=~/.cache/npm`");
      const lexical = value === "~" ? context.home : value.startsWith("~/") ? join(context.home, value.slice(2)) : resolve(context.cwd, value);
      let real: string;
      try {
        real = realpathSync(lexical);
      } catch (error) {
        throw new SandboxError("widening-invalid", `widening \`${raw}\`: \`${lexical}\` cannot be resolved (${(error as NodeJS.ErrnoException).code ?? String(error)})`, "name an existing path");
      }
      out.add(`${kind}=${real}`);
      continue;
    }
    if (kind === "writable-protected") {
      const rel = normalize(value).replace(/\/+$/, "");
      if (value === "" || isAbsolute(value) || rel === "." || rel === ".." || rel.startsWith("../")) {
        throw invalid(raw, "give a path relative to the working directory, e.g. `writable-protected=.git/hooks`");
      }
      out.add(`writable-protected=${rel}`);
      continue;
    }
    throw invalid(raw, "one of `network`, `readable=PATH`, `writable=PATH`, `writable-protected=REL`");
  }
  return [...out].sort();
}

function invalid(raw: string, help: string): SandboxError {
  return new SandboxError("widening-invalid", `\`${raw}\` is not a widening this runner knows`, help);
}

/** The profile with the (canonical) widenings applied. */
export function applyWidenings(profile: ResolvedProfile, widen: readonly string[]): ResolvedProfile {
  const readable = [...profile.readable];
  const writable = [...profile.writable];
  const writableProtected = [...profile.writableProtected];
  let network = profile.network;
  for (const w of widen) {
    const eq = w.indexOf("=");
    const value = w.slice(eq + 1);
    if (w === "network") network = "proxy";
    else if (w.startsWith("readable=")) readable.push(value);
    else if (w.startsWith("writable=")) writable.push(value);
    else if (w.startsWith("writable-protected=")) writableProtected.push(value);
  }
  return Object.freeze({ ...profile, network, readable: Object.freeze(readable), writable: Object.freeze(writable), writableProtected: Object.freeze(writableProtected) });
}

/** What the approvals module said about a widening. */
export type WideningVerdict =
  | { readonly allowed: true; readonly approval: ApprovalRef; readonly decision: Decision }
  | { readonly allowed: false; readonly decision: Decision };

/**
 * Asks the approvals check about `request`: `allow` only from a live approval or grant
 * (`allowed-by-approval`, `allowed-by-grant`) that names its id; anything else (a new or pending
 * request, a denial, an expired approval, an error) is not allowed.
 */
export async function askWidening(
  check: Check,
  request: WideningRequest,
  who: { readonly agent: string; readonly principal?: string; readonly run?: string; readonly policyDigest: string },
): Promise<WideningVerdict> {
  const args = { profile: request.profile, cwd: request.cwd, widen: [...request.widen], ...(request.proxy !== undefined ? { proxy: request.proxy } : {}) };
  const action: Action = {
    agent: who.agent,
    tool: WIDEN_TOOL,
    args,
    ...(who.principal !== undefined ? { principal: who.principal } : {}),
    ...(who.run !== undefined ? { run: who.run } : {}),
  };
  const asked: Decision = {
    verdict: "ask",
    code: "asked-by-rule",
    rules: [`sandbox.profiles.${request.profile}`],
    reasons: [`widen sandbox profile \`${request.profile}\` in \`${request.cwd}\`: ${request.widen.join(", ")}`],
    agent: who.agent,
    policyDigest: who.policyDigest,
    approvers: 1,
    args,
  };
  const outcome = await check(action, { decision: asked });
  const decision = outcome.decision ?? asked;
  if (decision.verdict === "allow" && (decision.code === "allowed-by-grant" || decision.code === "allowed-by-approval") && decision.approval) {
    return { allowed: true, approval: decision.approval, decision };
  }
  return { allowed: false, decision };
}

import { compileAllowList, findCredential, matchAllowList, type AllowRule, type CompiledAllowList, type CredentialRule } from "./allowlist.js";
import type { BudgetLedger } from "./budgets.js";
import { EgressError, type EgressErrorCode } from "./errors.js";
import { parseAuthority, type Authority } from "./host.js";
import { parseProxyAuthorization, verifyRunToken, type EgressIdentity } from "./identity.js";
import { resolveAndCheck, type Resolver } from "./resolve.js";
import type { EgressPolicy } from "./schema.js";
import type { AddressClassification, ListenAddress } from "./ssrf.js";

/** What the proxy was asked for, before any check. */
export interface EgressRequest {
  readonly kind: "connect" | "http";
  /** `host:port` (CONNECT target, or the authority of an absolute URL). */
  readonly authority: string;
  readonly defaultPort?: number;
  readonly proxyAuthorization: string | undefined;
}

/** An allowed destination: who, where, through which rule, and the checked addresses to dial. */
export interface EgressAllowed {
  readonly allow: true;
  readonly identity: EgressIdentity;
  readonly profile: string;
  readonly target: Authority;
  /** The rule that allowed it; absent when a `report` profile let an unlisted host through. */
  readonly rule?: AllowRule;
  readonly addresses: readonly AddressClassification[];
  readonly credential?: CredentialRule;
  /** Report-mode notes: what enforce mode would have refused. */
  readonly wouldDeny?: string;
  /** For CONNECT: releases the tunnel slot in the budget; call exactly once when it closes. */
  readonly releaseTunnel?: () => void;
}

/** A refusal, with the rule (or class) that produced it and a sentence that names the address. */
export interface EgressDenied {
  readonly allow: false;
  readonly code: EgressErrorCode;
  readonly reason: string;
  /** Rule id or metric name (`egress.deny.loopback`, `egress.allowlist.default-deny`). */
  readonly rule: string;
  readonly identity?: EgressIdentity;
  readonly target?: Authority;
  readonly addresses?: readonly AddressClassification[];
}

/** The decision for one request or tunnel. */
export type EgressDecision = EgressAllowed | EgressDenied;

/** What the decision needs besides the request: compiled policy and dependencies. */
export interface EgressDecider {
  decide(request: EgressRequest): Promise<EgressDecision>;
  /** The compiled profile of an agent (for requests inside an intercepted tunnel). */
  profileOf(agent: string): CompiledAllowList | undefined;
}

/**
 * Builds the decision function. The policy is compiled here, once; a malformed rule throws now,
 * never during a request.
 *
 * Order (the first refusal wins): 1 identity (Proxy-Authorization, run token, agent → profile);
 * 2 target syntax (host normalises, port in range); 3 allow-list (refused in `enforce` mode,
 * noted in `report` mode); 4 budgets (requests per minute, bytes already spent, open tunnels);
 * 5 resolve once and classify every address (the SSRF guard enforces in both modes).
 * Any exception that is not an {@link EgressError} becomes `egress-check-error`: a check that
 * throws never lets a request through.
 */
export function createEgressDecider(deps: {
  readonly policy: EgressPolicy;
  readonly tokenKey: Uint8Array;
  readonly resolver: Resolver;
  readonly budgets: BudgetLedger;
  readonly self: () => readonly ListenAddress[];
  readonly now: () => number;
}): EgressDecider {
  const lists = new Map<string, CompiledAllowList>();
  for (const [name, profile] of Object.entries(deps.policy.profiles)) lists.set(name, compileAllowList(name, profile));
  const profileOf = (agent: string): CompiledAllowList | undefined => {
    const profile = Object.hasOwn(deps.policy.agents, agent) ? deps.policy.agents[agent] : undefined;
    return profile === undefined ? undefined : lists.get(profile);
  };

  async function decideUnsafe(request: EgressRequest): Promise<EgressDecision> {
    const credentials = parseProxyAuthorization(request.proxyAuthorization);
    const identity = verifyRunToken(deps.tokenKey, credentials.agent, credentials.token, deps.now());
    const list = profileOf(identity.agent);
    if (!list) throw new EgressError("egress-auth-invalid", `agent \`${identity.agent}\` has no egress profile`);
    let target: Authority;
    try {
      target = parseAuthority(request.authority, request.defaultPort);
    } catch (error) {
      if (error instanceof EgressError) return deny(error.code, error.message, "egress.target.invalid", identity);
      throw error;
    }
    const match = matchAllowList(list, target);
    let wouldDeny: string | undefined;
    if (!match.matched) {
      if (list.mode === "enforce") return deny("egress-not-allowed", match.reason, "egress.allowlist.default-deny", identity, target);
      wouldDeny = match.reason;
    }
    const rule = match.matched ? match.rule : undefined;
    const spentRate = deps.budgets.admitRequest(identity);
    if (spentRate) return deny("egress-budget-exceeded", spentRate.reason, `egress.budget.${spentRate.scope}.${spentRate.limit}`, identity, target);
    const spentBytes = deps.budgets.checkBytes(identity);
    if (spentBytes) return deny("egress-budget-exceeded", spentBytes.reason, `egress.budget.${spentBytes.scope}.${spentBytes.limit}`, identity, target);
    let checked;
    try {
      checked = await resolveAndCheck(target, {
        resolver: deps.resolver,
        unsafeAllowAddresses: rule?.unsafeAllowRanges ?? [],
        self: deps.self(),
        timeoutMs: deps.policy.timeouts.connectMs,
      });
    } catch (error) {
      if (error instanceof EgressError) return deny(error.code, error.message, "egress.resolve", identity, target);
      throw error;
    }
    if (checked.refused) {
      const r = checked.refused;
      const reason = `\`${target.hostText}:${target.port}\` is refused: address ${r.address} is in a forbidden class: ${r.sentence.replace(/^Deny: /, "")}`;
      return { allow: false, code: "egress-address-forbidden", reason, rule: r.metric, identity, target, addresses: checked.addresses };
    }
    const credential = findCredential(list, target);
    // Taking the tunnel slot is the last step, so no check below can throw and leak it.
    let releaseTunnel: (() => void) | undefined;
    if (request.kind === "connect") {
      const slot = deps.budgets.openTunnel(identity);
      if (typeof slot !== "function") return deny("egress-budget-exceeded", slot.reason, `egress.budget.${slot.scope}.${slot.limit}`, identity, target);
      releaseTunnel = slot;
    }
    return {
      allow: true,
      identity,
      profile: list.profile,
      target,
      addresses: checked.addresses,
      ...(rule ? { rule } : {}),
      ...(credential ? { credential } : {}),
      ...(wouldDeny ? { wouldDeny } : {}),
      ...(releaseTunnel ? { releaseTunnel } : {}),
    };
  }

  return {
    profileOf,
    async decide(request) {
      try {
        return await decideUnsafe(request);
      } catch (error) {
        if (error instanceof EgressError) return deny(error.code, error.message, `egress.${error.code.replace(/^egress-/, "")}`);
        // Fail closed: an unexpected error in any check is a refusal, with the cause recorded.
        const detail = error instanceof Error ? error.message : String(error);
        return deny("egress-check-error", `a check failed, so the request is refused: ${detail}`, "egress.check-error");
      }
    },
  };
}

function deny(code: EgressErrorCode, reason: string, rule: string, identity?: EgressIdentity, target?: Authority): EgressDenied {
  return { allow: false, code, reason, rule, ...(identity ? { identity } : {}), ...(target ? { target } : {}) };
}

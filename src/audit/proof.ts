import type { AuditStore } from "../store/index.js";
import { openCheckpoint } from "./checkpoint.js";
import { AuditError } from "./errors.js";
import {
  consistencyProofRanges,
  hashLeafText,
  inclusionProofRanges,
  scanTree,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";
import type { NoteVerifierKey } from "./note.js";
import type { ConsistencyProof, InclusionProof } from "./proof-schema.js";

export type { ConsistencyProof, InclusionProof } from "./proof-schema.js";

export type AuditProof = InclusionProof | ConsistencyProof;

/**
 * Builds the inclusion proof of record `index` in the tree of `size` records (default: the
 * latest stored checkpoint's size when it covers the record, else the whole log), with the
 * record itself and the signed checkpoint for that size when one is stored.
 *
 * @example
 * const proof = await proveInclusion(store, 17);
 */
export async function proveInclusion(store: AuditStore, index: number, treeSize?: number): Promise<InclusionProof> {
  const origin = await requireOrigin(store);
  const stored = await store.readCheckpoints();
  const total = await store.nextSeq();
  const covering = stored.filter((c) => c.size > index).at(-1);
  const n = treeSize ?? covering?.size ?? total;
  if (n > total) throw new AuditError("audit-range-invalid", `size ${n} is larger than the log (${total} records)`);
  const ranges = inclusionProofRanges(index, n);
  const scanned = await scanTree(n, ranges, [n], (a, b) => store.readLeafHashes(a, b));
  const root = scanned.roots[0];
  const proof = scanned.ranges;
  let record: string | undefined;
  for await (const page of store.readRecords(index, index + 1)) record = page[0]?.record;
  if (record === undefined) throw new AuditError("audit-range-invalid", `record ${index} is missing from the store; run \`gatehouse audit verify\``);
  const checkpoint = stored.find((c) => c.size === n)?.note;
  return {
    type: "inclusion",
    origin,
    index,
    size: n,
    leafHash: hashLeafText(record).toString("hex"),
    record,
    root: (root as Buffer).toString("hex"),
    proof: proof.map((h) => h.toString("hex")),
    ...(checkpoint === undefined ? {} : { checkpoint }),
  };
}

/**
 * Builds the consistency proof that the log at `from` records is a prefix of the log at `to`
 * records (default: the whole log), with the stored checkpoints for both sizes when present.
 *
 * @example
 * const proof = await proveConsistency(store, 1000, 2000);
 */
export async function proveConsistency(store: AuditStore, from: number, to?: number): Promise<ConsistencyProof> {
  const origin = await requireOrigin(store);
  const total = await store.nextSeq();
  const n = to ?? total;
  if (n > total) throw new AuditError("audit-range-invalid", `size ${n} is larger than the log (${total} records)`);
  const ranges = consistencyProofRanges(from, n);
  const scanned = await scanTree(n, ranges, [from, n], (a, b) => store.readLeafHashes(a, b));
  const [fromRoot, toRoot] = scanned.roots;
  const proof = scanned.ranges;
  const stored = await store.readCheckpoints();
  const checkpoints = stored.filter((c) => c.size === from || c.size === n).map((c) => c.note);
  return {
    type: "consistency",
    origin,
    from,
    to: n,
    fromRoot: (fromRoot as Buffer).toString("hex"),
    toRoot: (toRoot as Buffer).toString("hex"),
    proof: proof.map((h) => h.toString("hex")),
    ...(checkpoints.length === 0 ? {} : { checkpoints }),
  };
}

async function requireOrigin(store: AuditStore): Promise<string> {
  const origin = await store.origin();
  if (origin === undefined) throw new AuditError("audit-store-corrupt", `${store.location}: the log has no origin; run \`gatehouse audit verify\``);
  return origin;
}

/** What {@link checkProof} concluded. */
export interface ProofCheck {
  /** The proof's hashes are right, and every root is vouched for when a key was given. */
  readonly ok: boolean;
  /** Every root in the proof is vouched for by a checkpoint signed by the trusted key. */
  readonly rootsTrusted: boolean;
  readonly message: string;
}

/**
 * Checks a proof offline, with RFC 9162's verification algorithms. With a verifier key, every
 * root must also be vouched for by a signed checkpoint (embedded in the proof or given in
 * `checkpoints`); without one the check only says the hashes are consistent with the roots the
 * proof itself claims, which anyone can fabricate.
 *
 * @example
 * const result = await checkProof(JSON.parse(text), { verifierKey });
 */
export async function checkProof(input: unknown, trust: { verifierKey?: NoteVerifierKey; checkpoints?: readonly string[] } = {}): Promise<ProofCheck> {
  // The schemas (and zod) load here, not with the audit module: every command that only appends
  // (`gatehouse run`, the hook) would otherwise pay for them at start-up.
  const { proofSchema } = await import("./proof-schema.js");
  const parsed = proofSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
    throw new AuditError("audit-proof-invalid", `the proof file is not a Gatehouse proof: ${where}${issue?.message ?? "invalid"}`);
  }
  const proof = parsed.data;
  const h = (hex: string): Buffer => Buffer.from(hex, "hex");
  const roots: [number, string][] = [];
  if (proof.type === "inclusion") {
    if (proof.record !== undefined && hashLeafText(proof.record).toString("hex") !== proof.leafHash) {
      return { ok: false, rootsTrusted: false, message: "the record in the proof does not hash to its leafHash: it was changed" };
    }
    try {
      verifyInclusion(proof.index, proof.size, h(proof.leafHash), proof.proof.map(h), h(proof.root));
    } catch (error) {
      return { ok: false, rootsTrusted: false, message: (error as Error).message };
    }
    roots.push([proof.size, proof.root]);
  } else {
    try {
      verifyConsistency(proof.from, proof.to, proof.proof.map(h), h(proof.fromRoot), h(proof.toRoot));
    } catch (error) {
      return { ok: false, rootsTrusted: false, message: (error as Error).message };
    }
    if (proof.from > 0) roots.push([proof.from, proof.fromRoot]);
    roots.push([proof.to, proof.toRoot]);
  }
  const what = proof.type === "inclusion" ? `record ${proof.index} is in the log of ${proof.size} records` : `the log of ${proof.from} records is a prefix of the log of ${proof.to}`;
  if (!trust.verifierKey) {
    return { ok: true, rootsTrusted: false, message: `the proof is consistent: ${what} (roots not authenticated: give --key to check them against signed checkpoints)` };
  }
  const notes = [...(proof.type === "inclusion" ? (proof.checkpoint ? [proof.checkpoint] : []) : (proof.checkpoints ?? [])), ...(trust.checkpoints ?? [])];
  for (const [n, root] of roots) {
    const vouched = notes.some((note) => {
      try {
        const c = openCheckpoint(note, trust.verifierKey as NoteVerifierKey, proof.origin);
        return c.size === n && c.root.toString("hex") === root;
      } catch {
        return false;
      }
    });
    if (!vouched) {
      return { ok: false, rootsTrusted: false, message: `no checkpoint signed by the trusted key vouches for the root at size ${n}; give one with --checkpoint` };
    }
  }
  return { ok: true, rootsTrusted: true, message: `the proof holds: ${what}, and the roots are signed by the trusted key` };
}

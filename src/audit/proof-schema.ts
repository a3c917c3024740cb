import { z } from "zod";

/**
 * The proof file formats `gatehouse audit proof` prints. Kept apart from proof.ts so that zod is
 * loaded only by the commands that check a proof.
 */
const hex32 = z.string().regex(/^[0-9a-f]{64}$/, "a 32-byte hash in lowercase hex");
const size = z.int().min(0);

/** An inclusion proof as `gatehouse audit proof --index` prints it; self-contained for offline checks. */
export const inclusionProofSchema = z.strictObject({
  type: z.literal("inclusion"),
  origin: z.string().min(1),
  index: size,
  size: size,
  leafHash: hex32,
  record: z.string().optional().describe("the record's canonical JSON; its leaf hash must equal leafHash"),
  root: hex32,
  proof: z.array(hex32),
  checkpoint: z.string().optional().describe("the signed checkpoint for `size`, when one was stored"),
});

/** A consistency proof as `gatehouse audit proof --from --to` prints it. */
export const consistencyProofSchema = z.strictObject({
  type: z.literal("consistency"),
  origin: z.string().min(1),
  from: size,
  to: size,
  fromRoot: hex32,
  toRoot: hex32,
  proof: z.array(hex32),
  checkpoints: z.array(z.string()).optional().describe("signed checkpoints for `from` and `to`, when stored"),
});

export type InclusionProof = z.infer<typeof inclusionProofSchema>;
export type ConsistencyProof = z.infer<typeof consistencyProofSchema>;

/** Either proof, told apart by `type`. */
export const proofSchema = z.union([inclusionProofSchema, consistencyProofSchema]);

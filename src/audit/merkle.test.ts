import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  EMPTY_ROOT,
  MerkleAccumulator,
  consistencyProofRanges,
  hashChildren,
  hashLeaf,
  inclusionProofRanges,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
  type LeafRange,
} from "./merkle.js";

// Known-answer vectors from transparency-dev/merkle, proof/verify_test.go at commit
// 02194e9afb6c1d95b5381350007963aa70fff472 (originally from Certificate Transparency's Go code):
// eight leaves, the RFC 6962 roots of the trees of 1..8 leaves, and published inclusion and
// consistency proofs. Inclusion vectors there use 1-based leaf numbers; here they are 0-based.
const h = (hex: string): Buffer => Buffer.from(hex, "hex");
const LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map(h);
const ROOTS = [
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
].map(h);
const INCLUSION: { index: number; size: number; proof: string[] }[] = [
  { index: 0, size: 1, proof: [] },
  {
    index: 0,
    size: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  { index: 2, size: 3, proof: ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"] },
  {
    index: 1,
    size: 5,
    proof: [
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
];
const CONSISTENCY: { first: number; second: number; proof: string[] }[] = [
  { first: 1, second: 1, proof: [] },
  {
    first: 1,
    second: 8,
    proof: [
      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
  },
  {
    first: 6,
    second: 8,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
  {
    first: 2,
    second: 5,
    proof: [
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
  },
  {
    first: 6,
    second: 7,
    proof: [
      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
  },
];
const SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456");

function rootOf(leafHashes: readonly Buffer[]): Buffer {
  const tree = new MerkleAccumulator();
  for (const leaf of leafHashes) tree.append(leaf);
  return tree.root();
}

/** Reference MTH straight from RFC 9162 §2.1.1, recursive, to cross-check the accumulator. */
function mth(leafHashes: readonly Buffer[]): Buffer {
  if (leafHashes.length === 0) return EMPTY_ROOT;
  if (leafHashes.length === 1) return leafHashes[0] as Buffer;
  let k = 1;
  while (k * 2 < leafHashes.length) k *= 2;
  return hashChildren(mth(leafHashes.slice(0, k)), mth(leafHashes.slice(k)));
}

function proofHashes(ranges: readonly LeafRange[], leafHashes: readonly Buffer[]): Buffer[] {
  return ranges.map(([start, end]) => mth(leafHashes.slice(start, end)));
}

const leafHashes = LEAVES.map((leaf) => hashLeaf(leaf));

describe("RFC 6962 tree hashing against the transparency-dev/merkle vectors", () => {
  it("hashes the empty tree to SHA-256 of nothing", () => {
    expect(EMPTY_ROOT.toString("hex")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(new MerkleAccumulator().root().equals(EMPTY_ROOT)).toBe(true);
  });

  it.each(ROOTS.map((root, i) => [i + 1, root] as const))("computes the published root of the first %i leaves", (size, root) => {
    expect(rootOf(leafHashes.slice(0, size)).toString("hex")).toBe(root.toString("hex"));
  });

  it("agrees with the recursive definition for every size up to 70", () => {
    const many = Array.from({ length: 70 }, (_, i) => hashLeaf(Buffer.from([i, i >> 3])));
    for (let n = 0; n <= 70; n++) expect(rootOf(many.slice(0, n)).equals(mth(many.slice(0, n)))).toBe(true);
  });

  it("keeps an independent copy when cloned", () => {
    const tree = new MerkleAccumulator();
    tree.append(leafHashes[0] as Buffer);
    const copy = tree.clone();
    copy.append(leafHashes[1] as Buffer);
    expect(tree.size).toBe(1);
    expect(tree.root().equals(ROOTS[0] as Buffer)).toBe(true);
    expect(copy.root().equals(ROOTS[1] as Buffer)).toBe(true);
  });
});

describe("inclusion proofs (RFC 9162 §2.1.3)", () => {
  it.each(INCLUSION)("generates and verifies the published proof for leaf $index of $size", ({ index, size, proof }) => {
    const generated = proofHashes(inclusionProofRanges(index, size), leafHashes);
    expect(generated.map((x) => x.toString("hex"))).toEqual(proof);
    expect(() => verifyInclusion(index, size, leafHashes[index] as Buffer, proof.map(h), ROOTS[size - 1] as Buffer)).not.toThrow();
  });

  // The corruptions of transparency-dev/merkle's corruptInclusionProof, for leaf 5 of 8.
  const good = INCLUSION[2] as (typeof INCLUSION)[number];
  const proof = good.proof.map(h);
  const root = ROOTS[7] as Buffer;
  const leaf = leafHashes[5] as Buffer;
  const flipped = (i: number): Buffer[] => proof.map((p, j) => (j === i ? Buffer.from(p.map((b, k) => (k === 0 ? b ^ 8 : b))) : p));
  it.each([
    ["leaf index - 1", 4, 8, leaf, proof, root],
    ["leaf index + 1", 6, 8, leaf, proof, root],
    ["leaf index ^ 2", 7, 8, leaf, proof, root],
    ["tree size * 2", 5, 16, leaf, proof, root],
    ["tree size / 2", 5, 4, leaf, proof, root],
    ["wrong leaf", 5, 8, hashLeaf(Buffer.from("WrongLeaf")), proof, root],
    ["empty root", 5, 8, leaf, proof, EMPTY_ROOT],
    ["random root", 5, 8, leaf, proof, SOME_HASH],
    ["trailing root", 5, 8, leaf, [...proof, root], root],
    ["preceding root", 5, 8, leaf, [root, ...proof], root],
    ["modified proof[0]", 5, 8, leaf, flipped(0), root],
    ["modified proof[1]", 5, 8, leaf, flipped(1), root],
    ["modified proof[2]", 5, 8, leaf, flipped(2), root],
    ["removed component", 5, 8, leaf, proof.slice(0, 2), root],
    ["inserted component", 5, 8, leaf, [proof[0] as Buffer, SOME_HASH, ...proof.slice(1)], root],
  ] as const)("rejects a proof when %s", (_name, index, size, leafHash, hashes, expectedRoot) => {
    expect(() => verifyInclusion(index, size, leafHash, hashes, expectedRoot)).toThrow(expect.objectContaining({ code: "audit-proof-invalid" }));
  });

  it.each([
    ["index equal to size", 1, 1],
    ["index past size", 2, 1],
    ["empty tree", 0, 0],
    ["negative index", -1, 4],
    ["fractional size", 0, 1.5],
  ])("rejects %s without reading the proof", (_name, index, size) => {
    expect(() => rootFromInclusionProof(index, size, SOME_HASH, [])).toThrow(/not inside a tree/);
  });

  it("rejects hashes that are not 32 bytes", () => {
    expect(() => verifyInclusion(0, 2, Buffer.alloc(31), [SOME_HASH], SOME_HASH)).toThrow(/32 bytes/);
  });
});

describe("consistency proofs (RFC 9162 §2.1.4)", () => {
  it.each(CONSISTENCY)("generates and verifies the published proof from $first to $second", ({ first, second, proof }) => {
    const generated = proofHashes(consistencyProofRanges(first, second), leafHashes);
    expect(generated.map((x) => x.toString("hex"))).toEqual(proof);
    expect(() => verifyConsistency(first, second, proof.map(h), ROOTS[first - 1] as Buffer, ROOTS[second - 1] as Buffer)).not.toThrow();
  });

  // The corruptions of transparency-dev/merkle's corruptConsistencyProof, for 6 -> 8.
  const good = CONSISTENCY[2] as (typeof CONSISTENCY)[number];
  const proof = good.proof.map(h);
  const r6 = ROOTS[5] as Buffer;
  const r8 = ROOTS[7] as Buffer;
  const flipped = (i: number): Buffer[] => proof.map((p, j) => (j === i ? Buffer.from(p.map((b, k) => (k === 0 ? b ^ 16 : b))) : p));
  it.each([
    ["first - 1", 5, 8, proof, r6, r8],
    ["first + 1", 7, 8, proof, r6, r8],
    ["first ^ 2", 4, 8, proof, r6, r8],
    ["second * 2", 6, 16, proof, r6, r8],
    ["second / 2", 6, 4, proof, r6, r8],
    ["wrong first root", 6, 8, proof, SOME_HASH, r8],
    ["wrong second root", 6, 8, proof, r6, SOME_HASH],
    ["swapped roots", 6, 8, proof, r8, r6],
    ["empty proof", 6, 8, [], r6, r8],
    ["trailing first root", 6, 8, [...proof, r6], r6, r8],
    ["trailing second root", 6, 8, [...proof, r8], r6, r8],
    ["preceding first root", 6, 8, [r6, ...proof], r6, r8],
    ["preceding second root", 6, 8, [r8, ...proof], r6, r8],
    ["preceding proof[0]", 6, 8, [proof[0] as Buffer, ...proof], r6, r8],
    ["truncated proof", 6, 8, proof.slice(0, 2), r6, r8],
    ["modified proof[0]", 6, 8, flipped(0), r6, r8],
    ["modified proof[1]", 6, 8, flipped(1), r6, r8],
    ["modified proof[2]", 6, 8, flipped(2), r6, r8],
  ] as const)("rejects a proof when %s", (_name, first, second, hashes, firstRoot, secondRoot) => {
    expect(() => verifyConsistency(first, second, hashes, firstRoot, secondRoot)).toThrow(expect.objectContaining({ code: "audit-proof-invalid" }));
  });

  it.each([
    ["equal sizes with equal roots", 3, 3, [], ROOTS[2], ROOTS[2], true],
    ["equal sizes with different roots", 3, 3, [], ROOTS[2], ROOTS[3], false],
    ["from the empty tree", 0, 5, [], EMPTY_ROOT, ROOTS[4], true],
    ["from the empty tree with a non-empty proof", 0, 5, [SOME_HASH], EMPTY_ROOT, ROOTS[4], false],
    ["going back in time", 5, 3, [], ROOTS[4], ROOTS[2], false],
  ] as const)("handles %s", (_name, first, second, hashes, firstRoot, secondRoot, ok) => {
    const check = (): void => verifyConsistency(first, second, hashes, firstRoot as Buffer, secondRoot as Buffer);
    if (ok) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code: "audit-proof-invalid" }));
  });
});

describe("proofs over random trees", () => {
  const leavesFor = (n: number): Buffer[] => Array.from({ length: n }, (_, i) => hashLeaf(Buffer.from(`leaf-${i}`)));

  it("every generated inclusion proof verifies, and fails for any other leaf", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n - 1 }))), ([n, index]) => {
        const leaves = leavesFor(n);
        const root = mth(leaves);
        const proof = proofHashes(inclusionProofRanges(index, n), leaves);
        verifyInclusion(index, n, leaves[index] as Buffer, proof, root);
        const other = leaves[(index + 1) % n] as Buffer;
        if (n > 1) expect(() => verifyInclusion(index, n, other, proof, root)).toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it("every generated consistency proof verifies", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }).chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n))), ([m, n]) => {
        const leaves = leavesFor(n);
        const proof = proofHashes(consistencyProofRanges(m, n), leaves);
        verifyConsistency(m, n, proof, mth(leaves.slice(0, m)), mth(leaves));
      }),
      { numRuns: 200 },
    );
  });
});

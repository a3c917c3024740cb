import { describe, expect, it } from "vitest";
import { formatCheckpoint, openCheckpoint, parseCheckpointText, signCheckpoint } from "./checkpoint.js";
import { generateSigningKey } from "./note.js";

const key = generateSigningKey("example.com/gatehouse/audit");
const root = Buffer.alloc(32, 7);

describe("checkpoints (c2sp.org/tlog-checkpoint)", () => {
  it("writes origin, decimal size and base64 root, then the signature line", () => {
    const note = signCheckpoint({ origin: key.name, size: 20852163, root }, key);
    const lines = note.split("\n");
    expect(lines.slice(0, 4)).toEqual([key.name, "20852163", root.toString("base64"), ""]);
    expect(lines[4]).toMatch(/^\u2014 example\.com\/gatehouse\/audit [A-Za-z0-9+/]{91}=$/);
    expect(openCheckpoint(note, key.verifier, key.name)).toEqual({ origin: key.name, size: 20852163, root });
  });

  it("parses the example checkpoint of the tlog-checkpoint spec", () => {
    const text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    const checkpoint = parseCheckpointText(text);
    expect(checkpoint.size).toBe(20852163);
    expect(formatCheckpoint(checkpoint)).toBe(text);
  });

  it("refuses a checkpoint from another log even when its key is trusted", () => {
    const note = signCheckpoint({ origin: "other.example/log", size: 1, root }, key);
    expect(() => openCheckpoint(note, key.verifier, key.name)).toThrow(
      expect.objectContaining({ code: "audit-checkpoint-foreign", message: expect.stringMatching(/comes from another log/) }),
    );
  });

  it.each([
    ["a size with a leading zero", "o\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /leading zeros/],
    ["a negative size", "o\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /decimal/],
    ["a size beyond 2^53", "o\n9007199254740993\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /decimal/],
    ["a short root", "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n", /32-byte hash/],
    ["two lines only", "o\n1\n", /three lines/],
    ["an empty origin", "\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n", /origin line is empty/],
  ])("refuses %s", (_name, text, message) => {
    expect(() => parseCheckpointText(text)).toThrow(message);
  });
});

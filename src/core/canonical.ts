import { createHash } from "node:crypto";
import canonicalizeModule from "canonicalize";

// canonicalize ships CommonJS with an ESM-style `export default` in its types; under NodeNext the
// callable arrives either directly or as `.default`, depending on the loader.
const canonicalizeJson = ((canonicalizeModule as unknown as { default?: unknown }).default ??
  canonicalizeModule) as (input: unknown) => string | undefined;

/**
 * Encodes a JSON value canonically (RFC 8785, JSON Canonicalization Scheme), so equal values
 * always give equal bytes and therefore equal digests.
 *
 * Throws `TypeError` for values JSON cannot represent (undefined at the top or in an array,
 * functions, cycles, non-finite numbers): a digest over them would be ambiguous. An object
 * property whose value is undefined is absent, as in `JSON.stringify`.
 *
 * @example
 * canonicalJson({ b: 1, a: [true] }) // '{"a":[true],"b":1}'
 */
export function canonicalJson(value: unknown): string {
  assertJsonValue(value, new Set());
  const text = canonicalizeJson(value);
  if (text === undefined) throw new TypeError("value has no canonical JSON form");
  return text;
}

/** SHA-256 of a string or bytes, as lowercase hex. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The digest that binds an approval to one exact call: who acts (agent, principal), where
 * (environment), what (tool, canonical arguments), under which policy, and how many approvers
 * the call needs. Any byte of difference gives another digest, so an approval given for a
 * staging call, for another principal, or with fewer approvers never covers this one.
 */
export function actionDigest(parts: {
  agent: string;
  tool: string;
  args: unknown;
  policyDigest: string;
  environment?: string;
  principal?: string;
  approvers: number;
}): string {
  return sha256Hex(
    canonicalJson({
      agent: parts.agent,
      approvers: parts.approvers,
      args: parts.args,
      environment: parts.environment ?? "",
      policy: parts.policyDigest,
      principal: parts.principal ?? "",
      tool: parts.tool,
    }),
  );
}

function assertJsonValue(value: unknown, seen: Set<object>): void {
  switch (typeof value) {
    case "string":
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`number \`${String(value)}\` has no JSON form`);
      return;
    case "object": {
      if (value === null) return;
      if (seen.has(value)) throw new TypeError("value contains a cycle");
      seen.add(value);
      if (Array.isArray(value)) {
        // JSON would turn a hole or undefined into null: two different values, one encoding.
        for (const item of value as unknown[]) {
          if (item === undefined) throw new TypeError("an array element is undefined");
          assertJsonValue(item, seen);
        }
      } else {
        // An undefined property is absent, as in JSON.stringify.
        for (const item of Object.values(value)) if (item !== undefined) assertJsonValue(item, seen);
      }
      seen.delete(value);
      return;
    }
    default:
      throw new TypeError(`a ${typeof value} has no JSON form`);
  }
}

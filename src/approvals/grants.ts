import { Ajv } from "ajv";
import addFormatsModule from "ajv-formats";
import { RE2JS } from "re2js";
import { ApprovalError } from "./errors.js";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** Linear-time regexes (RE2) so a grant's `pattern` cannot make the check backtrack for seconds (ReDoS). */
function re2Engine(pattern: string): { test(s: string): boolean; toString(): string } {
  const compiled = RE2JS.compile(pattern);
  return { test: (s: string) => compiled.test(s), toString: () => `/${pattern}/u` };
}
re2Engine.code = "re2js";

/** Decides whether a call's (normalised) arguments fall inside a grant's scope. */
export type GrantArgsMatcher = (args: unknown) => boolean;

/**
 * Compiles a grant's argument constraint: JSON Schema, compiled strictly (unknown keywords are
 * refused), without references and without `pathPrefix` — path arguments reach the check already
 * normalised, so a grant pins them with `const`, `enum` or `pattern`. Throws ApprovalError
 * `grant-invalid`.
 *
 * @example
 * const matches = compileGrantArgs({ type: "object", properties: { amount: { maximum: 50 } } });
 * matches({ amount: 20 }) // true
 */
export function compileGrantArgs(schema: unknown): GrantArgsMatcher {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema)) {
    throw new ApprovalError("grant-invalid", "grant.args: must be an argument schema (a JSON object such as `{ \"type\": \"object\" }`)");
  }
  const text = JSON.stringify(schema);
  if (text.length > 16_384) throw new ApprovalError("grant-invalid", "grant.args: the schema is larger than 16 KiB");
  if (/"(pathPrefix|\$ref|\$dynamicRef|\$id|\$schema)"\s*:/.test(text)) {
    throw new ApprovalError("grant-invalid", "grant.args: `pathPrefix`, `$ref`, `$id` and `$schema` are not available in grants; pin paths with `const`, `enum` or `pattern`");
  }
  const ajv = new Ajv({ strict: true, allErrors: false, code: { regExp: re2Engine } });
  addFormats(ajv);
  let validate;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    throw new ApprovalError("grant-invalid", `grant.args: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (args) => {
    try {
      return validate(args) === true;
    } catch {
      return false; // fail closed: an argument the matcher cannot judge is not covered
    }
  };
}

import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { RE2JS } from "re2js";
import type { ArgSchema } from "./schema.js";
import { isWithinPrefix, normalizePath } from "./paths.js";
import { closestMatch } from "./suggest.js";

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** A compiled argument check: returns the arguments as the tool must receive them, or why not. */
export type ArgsCheck = (args: unknown) => ArgsResult;

export type ArgsResult = { ok: true; args: unknown } | { ok: false; field: string; message: string };

/** Thrown at load time for a schema ajv or RE2 refuses; the loader turns it into a located problem. */
export class ArgsSchemaError extends Error {
  constructor(
    message: string,
    /** Path inside the tool's `args` schema, e.g. `["properties", "to", "pattern"]`. */
    readonly schemaPath: readonly (string | number)[],
    readonly kind: "regex" | "schema",
  ) {
    super(message);
    this.name = "ArgsSchemaError";
  }
}

/**
 * A regex engine for ajv with linear-time matching (RE2 semantics, via re2js), so a `pattern` in
 * a policy can never make the gate backtrack for seconds on a crafted argument (ReDoS).
 * RE2 refuses backreferences and lookaround; that refusal surfaces at load time.
 */
function re2Engine(pattern: string): { test(s: string): boolean; toString(): string } {
  const compiled = RE2JS.compile(pattern);
  // INVARIANT: ajv caches compiled patterns keyed by `String(regex)`; without a distinct string
  // per pattern, every pattern in a schema would silently share the first one's matcher.
  return { test: (s: string) => compiled.test(s), toString: () => `/${pattern}/u` };
}
re2Engine.code = "re2js";

/**
 * Builds the ajv instance every tool schema compiles with: strict (unknown keywords are errors),
 * formats from ajv-formats, RE2 patterns, and our `pathPrefix` keyword.
 */
export function createArgsCompiler(): Ajv {
  const ajv = new Ajv({
    strict: true,
    allErrors: false,
    code: { regExp: re2Engine },
    messages: true,
  });
  addFormats(ajv);
  ajv.addKeyword({
    keyword: "pathPrefix",
    type: "string",
    schemaType: ["string", "array"],
    errors: true,
    validate: function pathPrefix(schema: string | string[], data: string) {
      const prefixes = Array.isArray(schema) ? schema : [schema];
      const ok = prefixes.some((prefix) => isWithinPrefix(data, prefix));
      if (!ok) {
        (pathPrefix as unknown as { errors: Partial<ErrorObject>[] }).errors = [
          { keyword: "pathPrefix", message: `must be within ${prefixes.map((p) => `\`${p}\``).join(" or ")}` },
        ];
      }
      return ok;
    },
  });
  return ajv;
}

/**
 * Compiles a tool's argument schema once, at load. The returned check normalises every
 * `pathPrefix` value first (so the schema sees what the tool will see), then validates.
 * Without a schema, any JSON object passes.
 */
export function compileArgsCheck(ajv: Ajv, schema: ArgSchema | undefined): ArgsCheck {
  const effective = closeObjects(schema ?? { type: "object" });
  if (effective.type === undefined) effective.type = "object";
  if (effective.type !== "object") {
    throw new ArgsSchemaError("a tool's `args` schema must have `type: object`", ["type"], "schema");
  }
  checkPatterns(effective, []);
  forbidPathPrefixUnderAnyOf(effective, [], false);
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(effective);
  } catch (error) {
    throw new ArgsSchemaError(error instanceof Error ? error.message : String(error), [], "schema");
  }
  const normalise = hasPathPrefix(effective) ? pathNormaliser(effective) : undefined;
  return (args: unknown): ArgsResult => {
    if (args === null || typeof args !== "object" || Array.isArray(args)) {
      return { ok: false, field: "args", message: "arguments must be a JSON object" };
    }
    let checked = args as Record<string, unknown>;
    if (normalise) {
      // Paths are rewritten in place, so work on a copy: the caller's arguments stay as given.
      checked = structuredClone(checked);
      const pathProblem = normalise(checked, "args");
      if (pathProblem) return pathProblem;
    }
    if (validate(checked)) return { ok: true, args: checked };
    return describeAjvError(validate.errors?.[0], effective);
  };
}

function hasPathPrefix(schema: ArgSchema): boolean {
  if (schema.pathPrefix !== undefined) return true;
  let found = false;
  forEachChild(schema, [], (child) => {
    found ||= hasPathPrefix(child);
  });
  return found;
}

/** Objects that list properties reject others unless they say otherwise: narrow by default. */
function closeObjects(schema: ArgSchema): ArgSchema {
  const copy: ArgSchema = { ...schema };
  if (copy.properties) {
    copy.properties = Object.fromEntries(Object.entries(copy.properties).map(([k, v]) => [k, closeObjects(v)]));
    if (copy.additionalProperties === undefined) copy.additionalProperties = false;
  }
  if (copy.additionalProperties && typeof copy.additionalProperties === "object") {
    copy.additionalProperties = closeObjects(copy.additionalProperties);
  }
  if (copy.items) copy.items = closeObjects(copy.items);
  if (copy.anyOf) copy.anyOf = copy.anyOf.map(closeObjects);
  return copy;
}

function checkPatterns(schema: ArgSchema, path: (string | number)[]): void {
  if (schema.pattern !== undefined) {
    try {
      RE2JS.compile(schema.pattern);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      throw new ArgsSchemaError(
        `pattern \`${schema.pattern}\` is not a linear-time (RE2) regular expression: ${detail}`,
        [...path, "pattern"],
        "regex",
      );
    }
  }
  forEachChild(schema, path, checkPatterns);
}

function forbidPathPrefixUnderAnyOf(schema: ArgSchema, path: (string | number)[], underAnyOf: boolean): void {
  if (underAnyOf && schema.pathPrefix !== undefined) {
    throw new ArgsSchemaError(
      "`pathPrefix` cannot be used inside `anyOf`: the gate must know which value is a path",
      [...path, "pathPrefix"],
      "schema",
    );
  }
  if (schema.anyOf) schema.anyOf.forEach((s, i) => forbidPathPrefixUnderAnyOf(s, [...path, "anyOf", i], true));
  forEachChild(schema, path, (child, childPath) => forbidPathPrefixUnderAnyOf(child, childPath, underAnyOf));
}

function forEachChild(
  schema: ArgSchema,
  path: (string | number)[],
  visit: (child: ArgSchema, path: (string | number)[]) => void,
): void {
  for (const [key, child] of Object.entries(schema.properties ?? {})) visit(child, [...path, "properties", key]);
  if (schema.items) visit(schema.items, [...path, "items"]);
  if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    visit(schema.additionalProperties, [...path, "additionalProperties"]);
  }
  schema.anyOf?.forEach((child, i) => visit(child, [...path, "anyOf", i]));
}

type Normaliser = (value: Record<string, unknown> | unknown[], field: string) => ArgsResult | undefined;

/** Builds, once, a walker that rewrites every `pathPrefix` value in place to its normal form. */
function pathNormaliser(schema: ArgSchema): Normaliser {
  const steps: Normaliser[] = [];
  for (const [key, child] of Object.entries(schema.properties ?? {})) {
    const inner = childNormaliser(child);
    if (inner) {
      steps.push((value, field) => {
        if (Array.isArray(value) || !Object.hasOwn(value, key)) return undefined;
        return inner(value, key, `${field}.${key}`);
      });
    }
  }
  const extra = schema.additionalProperties;
  if (extra && typeof extra === "object") {
    const inner = childNormaliser(extra);
    const listed = new Set(Object.keys(schema.properties ?? {}));
    if (inner) {
      steps.push((value, field) => {
        if (Array.isArray(value)) return undefined;
        for (const key of Object.keys(value)) {
          if (listed.has(key)) continue;
          const problem = inner(value, key, `${field}.${key}`);
          if (problem) return problem;
        }
        return undefined;
      });
    }
  }
  if (schema.items) {
    const inner = childNormaliser(schema.items);
    if (inner) {
      steps.push((value, field) => {
        if (!Array.isArray(value)) return undefined;
        for (let i = 0; i < value.length; i++) {
          const problem = inner(value, i, `${field}[${i}]`);
          if (problem) return problem;
        }
        return undefined;
      });
    }
  }
  return (value, field) => {
    for (const step of steps) {
      const problem = step(value, field);
      if (problem) return problem;
    }
    return undefined;
  };
}

type ChildNormaliser = (
  container: Record<string, unknown> | unknown[],
  key: string | number,
  field: string,
) => ArgsResult | undefined;

function childNormaliser(schema: ArgSchema): ChildNormaliser | undefined {
  if (schema.pathPrefix !== undefined) {
    return (container, key, field) => {
      const holder = container as Record<string | number, unknown>;
      const raw = holder[key];
      if (typeof raw !== "string") return undefined; // ajv reports the type error
      const normal = normalizePath(raw);
      if (!normal.ok) return { ok: false, field, message: normal.message };
      holder[key] = normal.path;
      return undefined;
    };
  }
  const nested = pathNormaliser(schema);
  const hasWork = schema.properties || schema.items || typeof schema.additionalProperties === "object";
  if (!hasWork) return undefined;
  return (container, key, field) => {
    const value = (container as Record<string | number, unknown>)[key];
    if (value === null || typeof value !== "object") return undefined;
    return nested(value as Record<string, unknown> | unknown[], field);
  };
}

function describeAjvError(error: ErrorObject | undefined, schema: ArgSchema): ArgsResult {
  if (!error) return { ok: false, field: "args", message: "arguments do not match the tool's schema" };
  const field = `args${error.instancePath.replace(/\/([^/]*)/g, (_, segment: string) => (/^\d+$/.test(segment) ? `[${segment}]` : `.${segment.replace(/~1/g, "/").replace(/~0/g, "~")}`))}`;
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "additionalProperties": {
      const name = String(params.additionalProperty);
      const allowed = Object.keys(propertiesAt(schema, error.schemaPath) ?? {});
      const hint = closestMatch(name, allowed);
      return {
        ok: false,
        field,
        message: `unexpected argument \`${name}\`${hint ? ` (did you mean \`${hint}\`?)` : allowed.length ? `; allowed: ${allowed.map((a) => `\`${a}\``).join(", ")}` : ""}`,
      };
    }
    case "required":
      return { ok: false, field, message: `missing required argument \`${String(params.missingProperty)}\`` };
    case "enum":
      return {
        ok: false,
        field,
        message: `must be one of ${(params.allowedValues as unknown[]).map((v) => `\`${JSON.stringify(v)}\``).join(", ")}`,
      };
    default:
      return { ok: false, field, message: error.message ?? `fails \`${error.keyword}\`` };
  }
}

function propertiesAt(schema: ArgSchema, schemaPath: string): Record<string, ArgSchema> | undefined {
  // schemaPath looks like "#/properties/to/additionalProperties"; walk to the object holding it.
  const parts = schemaPath.replace(/^#\/?/, "").split("/").slice(0, -1);
  let node: unknown = schema;
  for (const part of parts) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return (node as ArgSchema | undefined)?.properties;
}

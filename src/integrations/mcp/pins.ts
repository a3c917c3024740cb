import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { canonicalJson, sha256Hex } from "../../core/index.js";
import { McpGatewayError, errorText } from "./errors.js";
import type { PoisonFinding } from "./poisoning.js";

/** The pin file format version this build reads and writes. */
export const PIN_FILE_VERSION = 1;

/** What the pin store knows about one tool of one server. */
export interface ToolPin {
  /** SHA-256 of the definition a human (or first sight, when clean) approved. */
  readonly approved?: string;
  /** The definition seen now that is waiting for a human: changed since approval, or flagged on first sight. */
  readonly candidate?: string;
  /** Why the candidate waits. */
  readonly reason?: "changed" | "flagged";
  /** The definition behind `candidate` (the hashed fields), for the human who reviews it. */
  readonly candidateDefinition?: unknown;
  /** The server's command line or URL the approved definition was seen from. */
  readonly source?: string;
  /** The source the candidate was seen from, when it differs from `source` (the server was moved). */
  readonly candidateSource?: string;
  readonly findings?: readonly PoisonFinding[];
  readonly firstSeen: string;
  readonly approvedAt?: string;
  readonly approvedBy?: string;
}

interface PinFile {
  version: number;
  servers: Record<string, { source?: string; tools: Record<string, ToolPin> }>;
}

/** The verdict of the pin check on one tool. */
export type PinStatus =
  | { readonly state: "approved"; readonly firstSight: boolean }
  | {
      readonly state: "blocked";
      readonly reason: "changed" | "flagged";
      readonly newlySeen: boolean;
      readonly findings: readonly PoisonFinding[];
      /** Set when the server's source (command line or URL) differs from the one the approval was given for. */
      readonly sourceChanged?: { readonly from: string; readonly to: string };
    };

/** One row of `gatehouse mcp pins list`. */
export interface PinRow extends ToolPin {
  readonly server: string;
  readonly tool: string;
  readonly state: "approved" | "blocked";
}

/** Where the gateway keeps tool pins. The JSON file store is the default. */
export interface PinStore {
  /**
   * Checks a tool's current definition against its pin, pinning it on first sight when it is
   * clean. `findings` are the poisoning findings for the definition now.
   */
  check(server: string, source: string, tool: string, definition: unknown, findings: readonly PoisonFinding[]): Promise<PinStatus>;
  list(): Promise<PinRow[]>;
  /**
   * Approves the waiting definition of one tool, but only if its digest is `digest`, the one the
   * human reviewed (from `list`): a definition that changed again after the review is refused
   * (`mcp-pin-mismatch`). Returns the approved row.
   */
  approve(server: string, tool: string, by: string, digest: string): Promise<PinRow>;
}

/**
 * The digest a pin holds: SHA-256 over the canonical JSON (RFC 8785) of everything about a tool
 * that reaches the model or seeds its risk: name, title, description, schemas, annotations.
 */
export function pinDigest(definition: unknown): string {
  return sha256Hex(canonicalJson(pinnedFields(definition)));
}

/** The fields of a tool definition a pin covers: exactly what the gateway serves of a tool. */
export const PINNED_TOOL_FIELDS = ["name", "title", "description", "inputSchema", "outputSchema", "annotations"] as const;

/**
 * The definition as served: only the pinned fields that are present. Anything else an upstream
 * sends (`_meta`, `icons`, `execution`, unknown fields) is dropped, so nothing unpinned (and
 * unscreened) reaches the client.
 *
 * @example
 * servedToolDefinition({ name: "add", inputSchema: { type: "object" }, _meta: { x: 1 } }) // { name: "add", inputSchema: { type: "object" } }
 */
export function servedToolDefinition<T extends object>(tool: T): Pick<T, Extract<keyof T, (typeof PINNED_TOOL_FIELDS)[number]>> {
  const d = tool as Record<string, unknown>;
  return Object.fromEntries(PINNED_TOOL_FIELDS.filter((field) => d[field] !== undefined).map((field) => [field, d[field]])) as never;
}

/** The fields of a tool definition a pin covers. */
function pinnedFields(definition: unknown): Record<string, unknown> {
  const d = (definition ?? {}) as Record<string, unknown>;
  return {
    name: d.name ?? null,
    title: d.title ?? null,
    description: d.description ?? null,
    inputSchema: d.inputSchema ?? null,
    outputSchema: d.outputSchema ?? null,
    annotations: d.annotations ?? null,
  };
}

/**
 * A pin store in one JSON file (mode 0600, replaced atomically on each change). Calls are
 * serialised within the process; the file is re-read before each change so two gateways sharing
 * it do not lose each other's pins wholesale (last writer wins per change).
 *
 * @example
 * const pins = createFilePinStore("/home/me/.local/share/gatehouse/mcp-pins.json");
 */
export function createFilePinStore(path: string, clock: () => Date = () => new Date()): PinStore {
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  async function load(): Promise<PinFile> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: PIN_FILE_VERSION, servers: {} };
      throw new McpGatewayError("mcp-pins-invalid", `cannot read the pin file \`${path}\`: ${errorText(error)}`, "check its permissions");
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new McpGatewayError("mcp-pins-invalid", `the pin file \`${path}\` is not JSON: ${errorText(error)}`, "restore it from a backup or delete it to pin every tool afresh");
    }
    const file = data as Partial<PinFile> | null;
    if (typeof file !== "object" || file === null || file.version !== PIN_FILE_VERSION || typeof file.servers !== "object" || file.servers === null) {
      throw new McpGatewayError("mcp-pins-invalid", `the pin file \`${path}\` is not a version ${PIN_FILE_VERSION} pin file`, "restore it from a backup or delete it");
    }
    return file as PinFile;
  }

  async function save(file: PinFile): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
    await rename(temp, path);
  }

  function rows(file: PinFile): PinRow[] {
    const out: PinRow[] = [];
    for (const [server, entry] of Object.entries(file.servers)) {
      for (const [tool, pin] of Object.entries(entry.tools)) {
        out.push({ server, tool, state: pin.candidate === undefined ? "approved" : "blocked", ...pin });
      }
    }
    return out.sort((a, b) => (a.server === b.server ? a.tool.localeCompare(b.tool) : a.server.localeCompare(b.server)));
  }

  return {
    check: (server, source, tool, definition, findings) =>
      serial(async () => {
        const digest = pinDigest(definition);
        const file = await load();
        const entry = (file.servers[server] ??= { source, tools: {} });
        const pin = entry.tools[tool];
        const now = clock().toISOString();
        // An approval holds for the definition AND the server it was seen from: a different command
        // or URL under the same name is another server, whose look-alike tools were never reviewed.
        const pinSource = pin?.source ?? entry.source;
        const sameSource = pinSource === undefined || pinSource === source;
        const sourceChanged = sameSource ? {} : { sourceChanged: { from: pinSource, to: source } };
        if (pin?.approved === digest && sameSource) return { state: "approved", firstSight: false };
        if (pin?.candidate === digest && (pin.candidateSource ?? pinSource ?? source) === source) {
          return { state: "blocked", reason: pin.reason ?? "changed", newlySeen: false, findings: pin.findings ?? [], ...sourceChanged };
        }
        if (!pin && findings.length === 0) {
          entry.tools[tool] = { approved: digest, source, firstSeen: now };
          await save(file);
          return { state: "approved", firstSight: true };
        }
        // INVARIANT: a definition no human approved, or one seen from another source, never
        // becomes approved here; only `approve` moves a candidate to approved.
        const reason = pin?.approved !== undefined ? "changed" : "flagged";
        entry.tools[tool] = {
          ...(pin?.approved !== undefined ? { approved: pin.approved } : {}),
          ...(pin?.approvedAt !== undefined ? { approvedAt: pin.approvedAt } : {}),
          ...(pin?.approvedBy !== undefined ? { approvedBy: pin.approvedBy } : {}),
          ...(pinSource !== undefined ? { source: pinSource } : {}),
          candidate: digest,
          candidateDefinition: pinnedFields(definition),
          ...(sameSource ? {} : { candidateSource: source }),
          reason,
          findings: [...findings],
          firstSeen: pin?.firstSeen ?? now,
        };
        await save(file);
        return { state: "blocked", reason, newlySeen: true, findings, ...sourceChanged };
      }),
    list: () => serial(async () => rows(await load())),
    approve: (server, tool, by, digest) =>
      serial(async () => {
        const file = await load();
        const entry = file.servers[server];
        const pin = entry?.tools[tool];
        if (!entry || pin?.candidate === undefined) {
          throw new McpGatewayError("mcp-pin-unknown", `tool \`${tool}\` of server \`${server}\` has no definition waiting for approval`, "run `gatehouse mcp pins list` to see what waits");
        }
        if (pin.candidate !== digest) {
          throw new McpGatewayError(
            "mcp-pin-mismatch",
            `tool \`${tool}\` of server \`${server}\`: the definition waiting now has digest ${pin.candidate}, not the ${digest} you reviewed; nothing was approved`,
            "review it again with `gatehouse mcp pins list`, then approve the digest shown there",
          );
        }
        const source = pin.candidateSource ?? pin.source ?? entry.source;
        entry.tools[tool] = { approved: pin.candidate, ...(source === undefined ? {} : { source }), firstSeen: pin.firstSeen, approvedAt: clock().toISOString(), approvedBy: by };
        await save(file);
        return rows(file).find((row) => row.server === server && row.tool === tool)!;
      }),
  };
}

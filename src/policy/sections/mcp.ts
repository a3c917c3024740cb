import { z } from "zod";

// The policy owns the file format: the MCP gateway's `mcp:` section is declared here, and the
// gateway (an entry point above the policy) imports it from the policy's public face.

/** Joins a server's name and a tool's name in multi-server mode: `github__create_issue`. */
export const NAMESPACE_SEPARATOR = "__";

const SERVER_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The kinds of request an upstream server may send to the client side (MCP 2025 "client
 * features"), as `clientRequests` names them: `sampling` is sampling/createMessage, `elicitation`
 * elicitation/create, `roots` roots/list.
 */
export const CLIENT_REQUEST_KINDS = ["sampling", "elicitation", "roots"] as const;

/** Forwarded client requests one server may make in any 60 seconds when its limits do not say. */
export const DEFAULT_CLIENT_REQUESTS_PER_MINUTE = 30;

/** One upstream MCP server behind the gateway: a command to spawn (stdio) or a URL. */
export const McpServerSchema = z
  .strictObject({
    name: z
      .string()
      .max(32)
      .regex(SERVER_NAME, { message: "a server name is letters, digits, `-` and single `_` (never `__`, the namespace separator)" })
      .refine((name) => !name.endsWith("_"), { message: "a server name must not end with `_`" })
      .describe("the server's name; in multi-server mode its tools are served as `NAME__tool`"),
    command: z.string().min(1).optional().describe("the program to spawn for a stdio server (no shell)"),
    args: z.array(z.string()).optional().describe("the program's arguments"),
    cwd: z.string().min(1).optional().describe("working directory of the spawned server"),
    env: z
      .array(z.string().regex(ENV_NAME, { message: "an environment variable name is letters, digits and `_`" }))
      .optional()
      .describe("names of Gatehouse's environment variables the server may see (besides PATH, HOME and the like); nothing else leaks"),
    url: z.url({ protocol: /^https?$/ }).optional().describe("the URL of a remote server (Streamable HTTP, or legacy HTTP+SSE)"),
    transport: z
      .enum(["auto", "streamable-http", "sse"])
      .optional()
      .describe("for `url`: `auto` (default) tries Streamable HTTP and falls back to the legacy HTTP+SSE transport"),
    exposeUnlisted: z
      .boolean()
      .optional()
      .describe(
        "serve this server's tools that the policy does not list, with a risk class seeded from their MCP annotations (high-risk-write without them); default false: only listed tools are served",
      ),
    timeoutMs: z.int().min(100).max(3_600_000).optional().describe("how long one request to this server may take (default 60000)"),
    clientRequests: z
      .array(z.enum(CLIENT_REQUEST_KINDS))
      .refine((kinds) => new Set(kinds).size === kinds.length, { message: "list each kind of client request once" })
      .optional()
      .describe(
        "the requests this server may send to the client behind the gateway: `sampling` (sampling/createMessage: text put before the user's model, on the user's tokens), `elicitation` (elicitation/create: questions to the user), `roots` (roots/list: the user's directories); default none: every such request is refused",
      ),
    clientRequestLimits: z
      .strictObject({
        perMinute: z
          .int()
          .min(1)
          .max(10_000)
          .optional()
          .describe(`how many requests this server may have forwarded to the client in any 60 seconds, all kinds together (default ${DEFAULT_CLIENT_REQUESTS_PER_MINUTE})`),
        samplingMaxTokens: z
          .int()
          .min(1)
          .max(10_000_000)
          .optional()
          .describe("the largest `maxTokens` a sampling request of this server may ask for; a larger one is refused (default: no cap)"),
      })
      .optional()
      .describe("limits on the requests `clientRequests` allows"),
  })
  .refine((server) => (server.command === undefined) !== (server.url === undefined), {
    message: "give exactly one of `command` (stdio) or `url` (HTTP)",
  })
  .refine((server) => server.url !== undefined || (server.transport === undefined), {
    message: "`transport` goes only with `url`",
    path: ["transport"],
  })
  .describe("an upstream MCP server");

/** The `mcp:` section: the servers the gateway fronts and where it keeps its pins. */
export const McpConfigSchema = z
  .strictObject({
    servers: z
      .array(McpServerSchema)
      .min(1)
      .refine((servers) => new Set(servers.map((s) => s.name)).size === servers.length, { message: "server names must be unique" })
      .describe("the upstream servers"),
    pins: z.string().min(1).optional().describe("the pin file (default: mcp-pins.json in Gatehouse's data directory)"),
    namespace: z
      .boolean()
      .optional()
      .describe("serve tools as `server__tool`; default: on with several servers, off with one (a drop-in for the server)"),
  })
  .describe("the MCP gateway");

export type McpServerConfig = z.infer<typeof McpServerSchema>;
export type McpConfig = z.infer<typeof McpConfigSchema>;
export type ClientRequestKind = (typeof CLIENT_REQUEST_KINDS)[number];

import { NAMESPACE_SEPARATOR } from "./config.js";

/** Tool names a policy can list (the policy's NAME pattern); others cannot be allow-listed. */
const TOOL_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,127}$/;

/** Why a name was refused, as a sentence. */
export type NameRefusal = string;

/**
 * The name a client sees for an upstream tool: `server__tool` when namespacing, else the tool's
 * own name. Returns a refusal when the upstream name could be confused with another server's
 * tool (it contains the separator) or cannot be listed in a policy.
 *
 * Threat: a server naming its tool `other__delete` would otherwise shadow `other`'s tool.
 */
export function exposedToolName(server: string, tool: string, namespace: boolean): { name: string } | { refusal: NameRefusal } {
  if (namespace && tool.includes(NAMESPACE_SEPARATOR)) {
    return { refusal: `tool \`${clip(tool)}\` of server \`${server}\` contains the namespace separator \`${NAMESPACE_SEPARATOR}\`` };
  }
  // `/` is reserved for the gateway's own action names (`resources/read`, `fs__prompts/get`): a tool
  // named like one would share its policy entry and approvals.
  if (tool.includes("/")) {
    return { refusal: `tool \`${clip(tool)}\` of server \`${server}\` contains \`/\`, which is reserved for the gateway's actions (\`resources/read\`, \`prompts/get\`)` };
  }
  const name = namespace ? `${server}${NAMESPACE_SEPARATOR}${tool}` : tool;
  if (!TOOL_NAME.test(name)) {
    return { refusal: `tool \`${clip(tool)}\` of server \`${server}\` has a name a policy cannot list (letters, digits, \`_.:/-\`, at most 128)` };
  }
  return { name };
}

/**
 * Checks a name a client asked for before anything else sees it: in namespace mode it must hold
 * the separator exactly once (`a__b__c` is an attempt to reach a tool through another server's
 * namespace). Returns a refusal sentence, or undefined when the name is well-formed.
 */
export function refuseRequestedName(name: string, namespace: boolean): NameRefusal | undefined {
  if (!TOOL_NAME.test(name)) return `tool name \`${clip(name)}\` is not a valid tool name`;
  if (!namespace) return undefined;
  const first = name.indexOf(NAMESPACE_SEPARATOR);
  if (first <= 0) return `tool name \`${clip(name)}\` has no server part (\`server${NAMESPACE_SEPARATOR}tool\`)`;
  if (name.indexOf(NAMESPACE_SEPARATOR, first + NAMESPACE_SEPARATOR.length) !== -1 || name.slice(first + 2).startsWith("_")) {
    return `tool name \`${clip(name)}\` smuggles a second namespace separator \`${NAMESPACE_SEPARATOR}\``;
  }
  return undefined;
}

/** The same for resource and prompt actions: `server__resources/read` or `resources/read`. */
export function actionName(server: string, method: "resources/read" | "prompts/get", namespace: boolean): string {
  return namespace ? `${server}${NAMESPACE_SEPARATOR}${method}` : method;
}

function clip(text: string): string {
  const printable = text.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 80 ? `${printable.slice(0, 77)}...` : printable;
}

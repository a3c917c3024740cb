/**
 * Text from an upstream (error messages, stderr lines) passed through the gateway's output filter
 * before it is logged, recorded or returned: an upstream's error may quote a credential.
 */

/**
 * `text` through `scrub`; `fallback` when the filter throws or returns something that is not a
 * string (fail closed: the text is dropped, not passed on raw).
 *
 * @example
 * scrubText(scrubValue, "connect failed: postgres://u:pw@db", "the upstream's error text was withheld")
 */
export function scrubText(scrub: ((value: unknown) => unknown) | undefined, text: string, fallback: string): string {
  if (!scrub) return text;
  try {
    const safe = scrub(text);
    return typeof safe === "string" ? safe : fallback;
  } catch {
    return fallback;
  }
}

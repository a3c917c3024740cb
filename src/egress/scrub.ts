import { Transform, type TransformCallback } from "node:stream";

/** What an injected value is replaced with in responses. */
export const SCRUBBED = "[gatehouse:scrubbed]";

/**
 * Replaces every exact occurrence of the given values in a header value. Until the secrets
 * module's full scrubber (encodings, vendor patterns) is wired in, the proxy removes at least
 * the exact value it injected, so an upstream that echoes the key does not hand it to the agent.
 */
export function scrubText(text: string, values: readonly string[]): string {
  let out = text;
  for (const value of values) if (value.length > 0) out = out.split(value).join(SCRUBBED);
  return out;
}

/**
 * A byte stream transform that replaces every exact occurrence of `values`, including ones split
 * across chunk boundaries: it holds back the last `longest - 1` bytes of each chunk until the
 * next chunk (or the end) shows whether they start a match.
 *
 * @example upstream.pipe(createScrubStream([apiKey])).pipe(client)
 */
export function createScrubStream(values: readonly string[]): Transform {
  const needles = [...new Set(values.filter((v) => v.length > 0))].map((v) => Buffer.from(v, "utf8"));
  const replacement = Buffer.from(SCRUBBED, "utf8");
  const keep = Math.max(0, ...needles.map((n) => n.length)) - 1;
  let pending: Buffer = Buffer.alloc(0);

  function replaceAll(buffer: Buffer): Buffer {
    let current = buffer;
    for (const needle of needles) {
      let at = current.indexOf(needle);
      if (at === -1) continue;
      const parts: Buffer[] = [];
      let from = 0;
      while (at !== -1) {
        parts.push(current.subarray(from, at), replacement);
        from = at + needle.length;
        at = current.indexOf(needle, from);
      }
      parts.push(current.subarray(from));
      current = Buffer.concat(parts);
    }
    return current;
  }

  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      if (needles.length === 0) {
        callback(null, chunk);
        return;
      }
      const joined = replaceAll(Buffer.concat([pending, chunk]));
      // A replacement never ends in a needle prefix, so holding back the tail is safe.
      const cut = Math.max(0, joined.length - keep);
      pending = Buffer.from(joined.subarray(cut));
      callback(null, joined.subarray(0, cut));
    },
    flush(callback: TransformCallback) {
      callback(null, pending.length > 0 ? replaceAll(pending) : undefined);
    },
  });
}

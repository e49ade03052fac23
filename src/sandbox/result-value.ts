import { FrameError, parseUntrustedJson, type ResultMessage } from '../proxy/index.js';

/**
 * Deeper than the runtime ever nests a rendered value: it marks objects past depth 100 as {"$type":"MaxDepth"}, and
 * its richest built-in (a Map) takes three JSON levels per level of the value.
 */
export const MAX_RETURN_DEPTH = 512;

export type ReturnValue = { ok: true; value?: unknown } | { ok: false; reason: string };

/**
 * The return value of a result frame, read as hostile input. The frame itself is bounded and its nesting checked
 * when it is decoded, but the value travels as JSON text inside one string, and code that reaches the runtime's
 * connection can send any text there (a value nested 100,000 deep once overflowed the host's stack when it was
 * formatted). So it is held to what the runtime itself sends: at most `maxReturnBytes`, valid JSON unless marked
 * truncated (then it is a prefix and stays text), nested at most MAX_RETURN_DEPTH deep. Anything else is a reason.
 */
export function readReturnValue(
  m: Extract<ResultMessage, { ok: true }>,
  maxReturnBytes: number,
): ReturnValue {
  if (m.value === undefined) return { ok: true };
  const bytes = Buffer.byteLength(m.value, 'utf8');
  if (bytes > maxReturnBytes)
    return { ok: false, reason: `its return value is ${bytes} bytes, over the limit of ${maxReturnBytes}` };
  if (m.valueTruncated) return { ok: true, value: m.value };
  try {
    return { ok: true, value: parseUntrustedJson(m.value, MAX_RETURN_DEPTH) };
  } catch (error) {
    if (error instanceof FrameError)
      return { ok: false, reason: `its return value nests deeper than ${MAX_RETURN_DEPTH} levels` };
    return { ok: false, reason: 'its return value is not valid JSON' };
  }
}

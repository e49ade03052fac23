import { Transform, type TransformCallback } from 'node:stream';

export interface Pattern {
  find: Buffer;
  replace: Buffer;
}

/**
 * Replaces every occurrence of each pattern as bytes stream through, across chunk boundaries: a chunk's tail is held
 * back until the next chunk only when it is the start of some pattern, so a streamed answer (server-sent events, a
 * line at a time) is never delayed unless it ends in what could be a secret. Memory stays bounded by one chunk plus
 * that tail (under the longest pattern).
 */
export function createRedactor(patterns: readonly Pattern[]): Transform {
  const active = patterns.filter((p) => p.find.length > 0);
  const hold = Math.max(0, ...active.map((p) => p.find.length)) - 1;
  let carry = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      const buf = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
      const out: Buffer[] = [];
      let at = 0;
      for (;;) {
        let best: { index: number; pattern: Pattern } | undefined;
        for (const pattern of active) {
          const index = buf.indexOf(pattern.find, at);
          if (index >= 0 && (!best || index < best.index)) best = { index, pattern };
        }
        if (!best) break;
        out.push(buf.subarray(at, best.index), best.pattern.replace);
        at = best.index + best.pattern.find.length;
      }
      // No match starts before `safe` any more; what follows is the start of one.
      const safe = buf.length - heldTail(buf, at, active, hold);
      out.push(buf.subarray(at, safe));
      carry = Buffer.from(buf.subarray(safe));
      callback(null, Buffer.concat(out));
    },
    flush(callback: TransformCallback) {
      callback(null, carry);
    },
  });
}

/** The length of the longest tail of `buf` (after `from`, under `hold` bytes) that some pattern starts with. */
function heldTail(buf: Buffer, from: number, patterns: readonly Pattern[], hold: number): number {
  for (let n = Math.min(hold, buf.length - from); n > 0; n--) {
    const tail = buf.subarray(buf.length - n);
    if (patterns.some((p) => p.find.subarray(0, n).equals(tail))) return n;
  }
  return 0;
}

import { Transform, type TransformCallback } from 'node:stream';

export interface Pattern {
  find: Buffer;
  replace: Buffer;
}

/**
 * Replaces every occurrence of each pattern as bytes stream through, across chunk boundaries: the last
 * `longest - 1` bytes are held back until the next chunk shows whether they start a match. Memory stays bounded by
 * one chunk plus that tail.
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
      // No match starts before `safe` any more; what follows may be the start of one.
      const safe = Math.max(at, buf.length - hold);
      out.push(buf.subarray(at, safe));
      carry = Buffer.from(buf.subarray(safe));
      callback(null, Buffer.concat(out));
    },
    flush(callback: TransformCallback) {
      callback(null, carry);
    },
  });
}

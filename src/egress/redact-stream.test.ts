import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import { createRedactor } from './redact-stream.js';

const patterns = [
  { find: Buffer.from('s3cret-value-one'), replace: Buffer.from('<ONE>') },
  { find: Buffer.from('another-secret-2'), replace: Buffer.from('<TWO-LONGER-PLACEHOLDER>') },
];

async function redact(chunks: string[]): Promise<string> {
  const out = await buffer(Readable.from(chunks.map((c) => Buffer.from(c))).pipe(createRedactor(patterns)));
  return out.toString();
}

/** Cuts `text` into pieces of pseudo-random sizes from 1 to 7 bytes. */
function pieces(text: string, seed: number): string[] {
  const out: string[] = [];
  let at = 0;
  let x = seed;
  while (at < text.length) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const n = 1 + (x % 7);
    out.push(text.slice(at, at + n));
    at += n;
  }
  return out;
}

describe('createRedactor', () => {
  it('replaces every occurrence, wherever the chunks are cut', async () => {
    const text =
      's3cret-value-one at the start, another-secret-2 and s3cret-value-ones3cret-value-one, end s3cret-value-one';
    const want = '<ONE> at the start, <TWO-LONGER-PLACEHOLDER> and <ONE><ONE>, end <ONE>';
    expect(await redact([text])).toBe(want);
    for (let seed = 1; seed < 40; seed++) expect(await redact(pieces(text, seed))).toBe(want);
    expect(await redact(text.split(''))).toBe(want);
  });

  it('passes other bytes through unchanged, including a prefix that never completes', async () => {
    expect(await redact(['data s3cret-val', 'ue-on', '!'])).toBe('data s3cret-value-on!');
    expect(await redact([])).toBe('');
  });

  it('holds back only a tail that starts a pattern, never more than the longest one', async () => {
    const r = createRedactor(patterns);
    const seen: Buffer[] = [];
    r.on('data', (c: Buffer) => seen.push(c));
    const passed = async (chunk: string) => {
      seen.length = 0;
      r.write(Buffer.from(chunk));
      await new Promise((res) => setImmediate(res));
      return Buffer.concat(seen).toString();
    };
    expect(await passed('data: {"n":1}\n\n')).toBe('data: {"n":1}\n\n');
    expect(await passed('x'.repeat(100) + 's3cret-v')).toBe('x'.repeat(100));
    expect(await passed('alue-xanother-secret-')).toBe('s3cret-value-x');
    expect(await passed('s3cret-value-on')).toBe('another-secret-');
    expect(await passed('e!')).toBe('<ONE>!');
    r.end();
  });
});

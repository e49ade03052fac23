import { describe, expect, it } from 'vitest';
import { createFrameDecoder, encodeFrame, FrameError, parseUntrustedJson } from './frames.js';

describe('frames', () => {
  it('round-trips messages split at every byte', () => {
    const bytes = Buffer.concat([
      encodeFrame({ t: 'hello', v: 1 }),
      encodeFrame({ t: 'call', id: 1, op: 'list' }),
    ]);
    for (let size = 1; size <= bytes.length; size++) {
      const d = createFrameDecoder(1024);
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, i + size)));
      expect(out).toEqual([
        { t: 'hello', v: 1 },
        { t: 'call', id: 1, op: 'list' },
      ]);
    }
  });

  it('refuses an oversized frame from its header alone, before buffering the body', () => {
    const d = createFrameDecoder(100);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff, 0);
    expect(() => d.push(header)).toThrow(FrameError);
    expect(d.bufferedBytes).toBe(0);
  });

  it('says when a frame is partly received', () => {
    const d = createFrameDecoder(100);
    const frame = encodeFrame({ t: 'hello', v: 1 });
    expect(d.partial).toBe(false);
    d.push(frame.subarray(0, 2));
    expect(d.partial).toBe(true);
    d.push(frame.subarray(2, 6));
    expect(d.partial).toBe(true);
    expect(d.push(frame.subarray(6))).toEqual([{ t: 'hello', v: 1 }]);
    expect(d.partial).toBe(false);
  });

  it('refuses malformed JSON and invalid UTF-8', () => {
    const bad = (body: Buffer) => {
      const h = Buffer.alloc(4);
      h.writeUInt32BE(body.length, 0);
      return () => createFrameDecoder(100).push(Buffer.concat([h, body]));
    };
    expect(bad(Buffer.from('{nope'))).toThrow('not valid JSON');
    expect(bad(Buffer.from([0xff, 0xfe]))).toThrow('not valid UTF-8');
  });

  it('drops __proto__ keys at any depth, keeps constructor and prototype as data, and bounds nesting', () => {
    const parsed = parseUntrustedJson(
      '{"__proto__":{"polluted":true},"a":{"constructor":{"prototype":{"x":1}},"b":{"__proto__":{"p":2}}}}',
    ) as Record<string, unknown>;
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.keys(parsed)).toEqual(['a']);
    expect(parsed.a).toEqual({ constructor: { prototype: { x: 1 } }, b: {} });
    // Merging what was parsed into a fresh object (as a zod record does) must not reach any prototype.
    const merged: object = Object.assign({}, (parsed.a as Record<string, unknown>).b);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect((merged as Record<string, unknown>).p).toBeUndefined();
    expect(() => parseUntrustedJson('['.repeat(100) + ']'.repeat(100))).toThrow('nests deeper');
    expect(parseUntrustedJson('["[[[[", "\\"[[["]')).toEqual(['[[[[', '"[[[']);
  });
});

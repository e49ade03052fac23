import { describe, expect, it } from 'vitest';
import { createDemuxer, type StreamKind } from './demux.js';

function frame(kind: 1 | 2, text: string): Buffer {
  const body = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(body.length, 4);
  return Buffer.concat([h, body]);
}

describe('docker stream demux', () => {
  it('splits stdout and stderr frames even when chunks cut headers and bodies anywhere', () => {
    const all = Buffer.concat([frame(1, 'out one '), frame(2, 'err'), frame(1, 'out two')]);
    for (let size = 1; size <= all.length; size++) {
      const got: Record<StreamKind, string> = { stdout: '', stderr: '' };
      const d = createDemuxer((k, data) => (got[k] += data.toString()));
      for (let i = 0; i < all.length; i += size) d.push(all.subarray(i, i + size));
      expect(got).toEqual({ stdout: 'out one out two', stderr: 'err' });
    }
  });
});

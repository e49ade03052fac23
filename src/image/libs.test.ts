import { describe, expect, it } from 'vitest';
import { ImageMissingError } from '../core/index.js';
import { parseLddOutput } from './libs.js';

describe('ldd output', () => {
  it('lists resolved libraries and the loader, skipping the vDSO', () => {
    const out = [
      '\tlinux-vdso.so.1 (0x00007ffd)',
      '\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f47)',
      '\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f46)',
      '\t/lib64/ld-linux-x86-64.so.2 (0x00007f47)',
    ].join('\n');
    expect(parseLddOutput(out)).toEqual([
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib/x86_64-linux-gnu/libdl.so.2',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
  });

  it('fails clearly when a library is missing', () => {
    expect(() => parseLddOutput('\tlibfoo.so.1 => not found\n', 'deno')).toThrow(ImageMissingError);
    expect(() => parseLddOutput('\tlibfoo.so.1 => not found\n', 'deno')).toThrow('libfoo.so.1');
  });
});

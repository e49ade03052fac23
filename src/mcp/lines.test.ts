import { describe, expect, it } from 'vitest';
import { createLineSplitter, escapeControl } from './lines.js';

describe('escapeControl', () => {
  it('writes control characters and bidirectional overrides as \\u escapes, keeping tabs and text', () => {
    expect(escapeControl('\x1b[31mred\x1b[0m')).toBe('\\u001b[31mred\\u001b[0m');
    expect(escapeControl('a\tb\x00c\x7f\x9b')).toBe('a\tb\\u0000c\\u007f\\u009b');
    expect(escapeControl('evil\u202etxt.exe')).toBe('evil\\u202etxt.exe');
    expect(escapeControl('héllo ✓ 日本')).toBe('héllo ✓ 日本');
  });
});

describe('line splitter', () => {
  it('hands on complete lines as they arrive, across chunks, without line ends', () => {
    const s = createLineSplitter(100);
    expect(s.push('a\nb')).toEqual(['a']);
    expect(s.push('c\r\nd\n\n')).toEqual(['bc', 'd', '']);
    expect(s.push('tail')).toEqual([]);
    expect(s.flush()).toEqual(['tail']);
    expect(s.flush()).toEqual([]);
  });

  it('cuts a line longer than the limit into pieces', () => {
    const s = createLineSplitter(4);
    expect(s.push('abcdefghij')).toEqual(['abcd', 'efgh']);
    expect(s.push('k\n')).toEqual(['ijk']);
  });
});

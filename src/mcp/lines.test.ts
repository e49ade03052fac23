import { describe, expect, it } from 'vitest';
import { createLineSplitter } from './lines.js';

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

import type { Segment } from './wrap.js';

/** Offsets where each line of `text` starts (a line break is \n, \r\n, \r, U+2028 or U+2029, as in JavaScript). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\r' && text[i + 1] === '\n') i++;
    if (c === '\n' || c === '\r' || c === '\u2028' || c === '\u2029') starts.push(i + 1);
  }
  return starts;
}

/** A 0-based line and UTF-16 column (as language servers count) in `text` → an offset. */
export function offsetAt(text: string, line: number, column: number): number {
  const starts = lineStarts(text);
  return (starts[Math.min(Math.max(line, 0), starts.length - 1)] ?? 0) + column;
}

/** An offset in `text` → 1-based line and column. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  const starts = lineStarts(text);
  let line = 0;
  while (line + 1 < starts.length && starts[line + 1]! <= offset) line++;
  return { line: line + 1, column: offset - starts[line]! + 1 };
}

/** The user's offset for a module offset, or undefined when it falls in text the wrapper added. */
export function userOffset(segments: Segment[], moduleOffset: number): number | undefined {
  const s = segments.find((g) => g.moduleStart <= moduleOffset && moduleOffset < g.moduleEnd);
  if (!s) return undefined;
  return s.exact ? s.userStart + (moduleOffset - s.moduleStart) : s.userStart;
}

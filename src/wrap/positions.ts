import { USER_CODE_FILENAME, type Segment } from './wrap.js';

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

/** The index of the last of the ascending `items` whose key is at most `value`; -1 when there is none. */
function lastAtMost<T>(items: readonly T[], value: number, key: (item: T) => number): number {
  let [lo, hi] = [0, items.length - 1];
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (key(items[mid]!) <= value) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi;
}

function lineColumnIn(starts: number[], offset: number): { line: number; column: number } {
  const line = Math.max(
    0,
    lastAtMost(starts, offset, (s) => s),
  );
  return { line: line + 1, column: offset - starts[line]! + 1 };
}

/** An offset in `text` → 1-based line and column. */
export function lineColumnAt(text: string, offset: number): { line: number; column: number } {
  return lineColumnIn(lineStarts(text), offset);
}

/** The user's offset for a module offset, or undefined when it falls in text the wrapper added. */
export function userOffset(segments: Segment[], moduleOffset: number): number | undefined {
  // The wrapper makes its segments in module order.
  const s = segments[lastAtMost(segments, moduleOffset, (g) => g.moduleStart)];
  if (!s || moduleOffset >= s.moduleEnd) return undefined;
  return s.exact ? s.userStart + (moduleOffset - s.moduleStart) : s.userStart;
}

/** The user's code, the module it became and how the two line up. */
export interface PositionMap {
  code: string;
  module: string;
  segments: Segment[];
}

const CODE_POSITION = new RegExp(`${USER_CODE_FILENAME.replace('.', '\\.')}:(\\d+):(\\d+)`, 'g');

/**
 * Every `code.ts:L:C` in `text` (a stack, stderr: positions in the module Deno ran) as the same place in the user's
 * code; one in the wrapper's own text, or past the module's end, is left as it is.
 */
export function mapCodePositions(text: string, map: PositionMap): string {
  if (!text.includes(USER_CODE_FILENAME)) return text;
  const [moduleStarts, codeStarts] = [lineStarts(map.module), lineStarts(map.code)];
  return text.replace(CODE_POSITION, (whole, l: string, c: string) => {
    const lineStart = moduleStarts[Number(l) - 1];
    const at = lineStart === undefined ? undefined : userOffset(map.segments, lineStart + Number(c) - 1);
    if (at === undefined) return whole;
    const p = lineColumnIn(codeStarts, at);
    return `${USER_CODE_FILENAME}:${p.line}:${p.column}`;
  });
}

import { describe, expect, it } from 'vitest';
import { mapCodePositions } from './positions.js';
import { wrapUserCode } from './wrap.js';

function mapOf(code: string) {
  const w = wrapUserCode(code);
  if (!w.ok) throw new Error(w.error.message);
  return { code, module: w.module, segments: w.segments };
}

/** Where `needle` is in the module Deno runs, as Deno writes it (1-based). */
function moduleAt(module: string, needle: string): string {
  const at = module.indexOf(needle);
  const before = module.slice(0, at).split('\n');
  return `code.ts:${before.length}:${before.at(-1)!.length + 1}`;
}

describe('mapCodePositions', () => {
  it('maps positions on line 1 (behind the wrapper and hoisted imports) and in a captured last expression', () => {
    const code = "const a = 1;\nimport { z } from 'npm:zod@^3';\nf(a)";
    const map = mapOf(code);
    expect(mapCodePositions(`at ${moduleAt(map.module, 'a = 1')}`, map)).toBe('at code.ts:1:7');
    // The last expression becomes `__conductor$result = (0, f(a))`: its call is still at column 1.
    expect(mapCodePositions(`at ${moduleAt(map.module, 'f(a)')}`, map)).toBe('at code.ts:3:1');
  });

  it('leaves positions in the wrapper’s own text, past the module, and of other files alone', () => {
    const map = mapOf('1 + 1');
    expect(mapCodePositions('at code.ts:1:1', map)).toBe('at code.ts:1:1');
    expect(mapCodePositions('at code.ts:99:1 other.ts:1:30', map)).toBe('at code.ts:99:1 other.ts:1:30');
  });

  it('maps every one of many positions in a large program (binary searches, not a scan per position)', () => {
    const code = Array.from({ length: 20_000 }, (_, i) => `const v${i} = ${i};`).join('\n');
    const map = mapOf(code);
    const text = 'code.ts:5000:3\n'.repeat(20_000);
    const mapped = mapCodePositions(text, map).split('\n');
    expect(new Set(mapped.slice(0, -1))).toEqual(new Set(['code.ts:5000:3']));
    expect(mapCodePositions(`at ${moduleAt(map.module, 'v19999 =')}`, map)).toBe('at code.ts:20000:7');
  });
});

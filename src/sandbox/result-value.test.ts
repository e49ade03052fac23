import { describe, expect, it } from 'vitest';
import { MAX_RETURN_DEPTH, readReturnValue } from './result-value.js';

const frame = (value: string | undefined, valueTruncated = false) => ({
  t: 'result' as const,
  ok: true as const,
  ...(value !== undefined ? { value } : {}),
  valueTruncated,
});

describe('readReturnValue', () => {
  it('parses what the runtime sends', () => {
    expect(readReturnValue(frame('{"a":[1,{"$type":"Map","entries":[["k",2]]}]}'), 1024)).toEqual({
      ok: true,
      value: { a: [1, { $type: 'Map', entries: [['k', 2]] }] },
    });
    expect(readReturnValue(frame(undefined), 1024)).toEqual({ ok: true });
    // A truncated value is a prefix: kept as text.
    expect(readReturnValue(frame('{"a":[1,2', true), 1024)).toEqual({ ok: true, value: '{"a":[1,2' });
    const deepest = '['.repeat(MAX_RETURN_DEPTH) + ']'.repeat(MAX_RETURN_DEPTH);
    expect(readReturnValue(frame(deepest), 4096).ok).toBe(true);
  });

  it('refuses, with a reason, what only a forged frame carries', () => {
    expect(readReturnValue(frame('['.repeat(100_000) + ']'.repeat(100_000)), 1 << 20)).toEqual({
      ok: false,
      reason: `its return value nests deeper than ${MAX_RETURN_DEPTH} levels`,
    });
    expect(readReturnValue(frame('"' + 'x'.repeat(2000) + '"'), 1024)).toEqual({
      ok: false,
      reason: 'its return value is 2002 bytes, over the limit of 1024',
    });
    expect(readReturnValue(frame('x'.repeat(2000), true), 1024).ok).toBe(false);
    expect(readReturnValue(frame('{"a":'), 1024)).toEqual({
      ok: false,
      reason: 'its return value is not valid JSON',
    });
    // No prototype pollution through the value either.
    const polluted = readReturnValue(frame('{"__proto__":{"polluted":true}}'), 1024);
    expect(polluted.ok && Object.getPrototypeOf(polluted.value)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { traceContextOf } from './trace-meta.js';

const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent in _meta', () => {
  it('takes a well-formed traceparent and a bounded tracestate', () => {
    expect(traceContextOf({ traceparent: parent })).toEqual({ traceparent: parent });
    expect(traceContextOf({ traceparent: parent, tracestate: 'vendor=abc' })).toEqual({
      traceparent: parent,
      tracestate: 'vendor=abc',
    });
    expect(traceContextOf({ traceparent: parent, tracestate: 'x'.repeat(513) })).toEqual({
      traceparent: parent,
    });
  });

  it('ignores what is absent or malformed: a new trace starts', () => {
    for (const bad of [
      undefined,
      {},
      { traceparent: 42 },
      { traceparent: parent.toUpperCase() },
      { traceparent: `01-${parent.slice(3)}` },
      { traceparent: '00-00000000000000000000000000000000-00f067aa0ba902b7-01' },
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01' },
      { traceparent: `${parent}-extra` },
    ])
      expect(traceContextOf(bad)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { childTraceContext, executionTrace, newSpanId, newTraceId } from './trace-ids.js';

describe('execution trace ids', () => {
  it('makes W3C ids: lower-case hex of the right length, different each time', () => {
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(Array.from({ length: 50 }, newSpanId)).size).toBe(50);
  });

  it('continues the caller’s trace with its sampling decision and state, or starts a sampled one', () => {
    const fresh = executionTrace();
    expect(fresh.sampled).toBe(true);
    expect(fresh.tracestate).toBeUndefined();
    expect(
      executionTrace({
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'v=1',
      }),
    ).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', sampled: true, tracestate: 'v=1' });
    expect(
      executionTrace({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' }),
    ).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      sampled: false,
    });
  });

  it('names the call’s span as the parent of what the upstream does', () => {
    const trace = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', sampled: true, tracestate: 'v=1' };
    expect(childTraceContext(trace, 'b7ad6b7169203331')).toEqual({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01',
      tracestate: 'v=1',
    });
    expect(
      childTraceContext({ ...trace, sampled: false, tracestate: undefined }, 'b7ad6b7169203331'),
    ).toEqual({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-00',
    });
  });
});

import type { TraceContext } from './events.js';

/**
 * The trace one execution's spans belong to when traces are exported: the caller's (from its `traceparent`) or a
 * new one. The ids are the execution's facts, fixed before anything runs, so that an upstream call can name its
 * span as the parent while the call is still in flight; the tracing layer gives its spans these ids.
 */
export interface ExecutionTrace {
  traceId: string;
  /** the caller's sampling decision (the spans follow their parent's); true for a new trace */
  sampled: boolean;
  /** the caller's vendor state, passed on unchanged */
  tracestate?: string;
}

function randomHex(bytes: number): string {
  const b = new Uint8Array(bytes);
  // An all-zero id is invalid in W3C Trace Context; 2^-64 odds, but cheap to rule out.
  while (b.every((x) => x === 0)) crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/** The caller's trace continued (its traceparent was checked for its format when it came in), or a new one. */
export function executionTrace(caller?: TraceContext): ExecutionTrace {
  if (!caller) return { traceId: newTraceId(), sampled: true };
  const [, traceId, , flags] = caller.traceparent.split('-');
  return {
    traceId: traceId!,
    sampled: (parseInt(flags!, 16) & 1) === 1,
    ...(caller.tracestate !== undefined ? { tracestate: caller.tracestate } : {}),
  };
}

/** The context an upstream request carries: this trace, with `spanId` (the mcpFactory call's span) as its parent. */
export function childTraceContext(trace: ExecutionTrace, spanId: string): TraceContext {
  const traceparent = `00-${trace.traceId}-${spanId}-${trace.sampled ? '01' : '00'}`;
  return trace.tracestate !== undefined ? { traceparent, tracestate: trace.tracestate } : { traceparent };
}

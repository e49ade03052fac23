import type { TraceContext } from '../core/index.js';

/** W3C Trace Context level 1: version 00, a non-zero trace id and parent id, lower-case hex. */
const TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** the W3C limit: 32 list members of at most 256 characters, so 512 characters is what a vendor may rely on */
const MAX_TRACESTATE_CHARS = 512;

/**
 * The caller's trace context from a request's `_meta` (`traceparent`, `tracestate`, as the MCP trace-context
 * convention puts them); undefined when absent or not well-formed, so a bad value starts a new trace.
 */
export function traceContextOf(meta: Record<string, unknown> | undefined): TraceContext | undefined {
  const traceparent = meta?.traceparent;
  if (typeof traceparent !== 'string' || !TRACEPARENT.test(traceparent)) return undefined;
  const tracestate = meta?.tracestate;
  return typeof tracestate === 'string' && tracestate.length <= MAX_TRACESTATE_CHARS
    ? { traceparent, tracestate }
    : { traceparent };
}

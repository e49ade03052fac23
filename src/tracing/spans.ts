import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { EventStream, ExecutionEvent } from '../core/index.js';
import type { PresetIds } from './preset-ids.js';

/**
 * One trace per `run_deno_code` call, built only from the execution events: a `run_deno_code` span from `queued` to
 * `finished`, its children `queue` (until admitted), `sandbox.acquire` (until a container is assigned: the pool's or
 * a new one), `sandbox.run` (until finished) with a child per `mcpFactory` call and egress request, and
 * `sandbox.remove` (from finished until the container is gone). Attributes carry the tenant, the ids and outcomes;
 * never code, arguments, results, headers or secret values. The trace id of a new trace and the span id of each
 * mcpFactory call are the ones the events carry (`ids` is the provider's id generator), so they match what the
 * upstream servers were told.
 */

type Ev<T extends ExecutionEvent['type']> = Extract<ExecutionEvent, { type: T }>;

interface CallSpans {
  root: Span;
  rootContext: Context;
  queue?: Span;
  acquire?: Span;
  run?: Span;
  runContext?: Context;
  removal?: Span;
}

/** Calls whose container removal is still awaited; past this the oldest are ended (a removal that failed never reports). */
const MAX_AWAITING_REMOVAL = 1024;
/** what the sandbox named (a server, a host) is bounded by the protocol; attributes are bounded again here */
const MAX_NAME_CHARS = 256;

const propagator = new W3CTraceContextPropagator();
const getter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};

/** The caller's context from a W3C `traceparent` (and `tracestate`); the root context when absent or malformed. */
function callerContext(trace?: { traceparent: string; tracestate?: string }): Context {
  if (!trace) return ROOT_CONTEXT;
  const carrier: Record<string, string> = { traceparent: trace.traceparent };
  if (trace.tracestate !== undefined) carrier.tracestate = trace.tracestate;
  return propagator.extract(ROOT_CONTEXT, carrier, getter);
}

const bounded = (s: string) => (s.length > MAX_NAME_CHARS ? s.slice(0, MAX_NAME_CHARS) : s);
const now = () => performance.timeOrigin + performance.now();

/** A span that already happened: `durationMs` before now, ended now. */
function pastSpan(
  tracer: Tracer,
  name: string,
  parent: Context,
  durationMs: number,
  attributes: Attributes,
  ok: boolean,
) {
  const end = now();
  const span = tracer.startSpan(name, { startTime: end - durationMs, attributes }, parent);
  if (!ok) span.setStatus({ code: SpanStatusCode.ERROR });
  span.end(end);
}

function finishedAttributes(e: Ev<'finished'>): Attributes {
  const r = e.resources;
  const a: Attributes = { 'mcp_conductor.status': e.status, 'mcp_conductor.duration_ms': e.durationMs };
  if (e.executionId) a['mcp_conductor.execution_id'] = e.executionId;
  if (r) {
    a['mcp_conductor.exit_reason'] = r.exitReason;
    if (r.exitCode !== undefined) a['mcp_conductor.exit_code'] = r.exitCode;
    if (r.peakMemoryBytes !== undefined) a['mcp_conductor.peak_memory_bytes'] = r.peakMemoryBytes;
    if (r.cpuMs !== undefined) a['mcp_conductor.cpu_ms'] = r.cpuMs;
    if (r.mcpCalls !== undefined) a['mcp_conductor.mcp_calls'] = r.mcpCalls;
  }
  if (e.error) a['error.type'] = e.error.code;
  return a;
}

/** Subscribes to the bus; returns a function that unsubscribes and ends what is still open (at shutdown). */
export function traceExecutions(
  bus: EventStream<ExecutionEvent>,
  tracer: Tracer,
  ids: PresetIds,
): () => void {
  const calls = new Map<string, CallSpans>();
  const awaitingRemoval = new Map<string, CallSpans>();

  const onQueued = (e: Ev<'queued'>) => {
    const attributes = {
      'mcp_conductor.tenant': e.tenant,
      'mcp_conductor.call_id': e.callId,
      'mcp_conductor.code.sha256': e.codeSha256,
      'mcp_conductor.code.bytes': e.codeBytes,
      'mcp_conductor.timeout_ms': e.timeoutMs,
    };
    const root = ids.with({ traceId: e.traceId }, () =>
      tracer.startSpan('run_deno_code', { kind: SpanKind.SERVER, attributes }, callerContext(e.trace)),
    );
    const rootContext = trace.setSpan(ROOT_CONTEXT, root);
    calls.set(e.callId, { root, rootContext, queue: tracer.startSpan('queue', {}, rootContext) });
  };

  const onFinished = (e: Ev<'finished'>, c: CallSpans) => {
    const ok = e.status === 'success';
    for (const span of [c.queue, c.acquire, c.run]) {
      if (!span) continue;
      if (!ok) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    c.root.setAttributes(finishedAttributes(e));
    if (!ok) c.root.setStatus({ code: SpanStatusCode.ERROR, message: e.error?.code ?? e.status });
    c.root.end();
    calls.delete(e.callId);
    if (!e.executionId) return;
    c.removal = tracer.startSpan('sandbox.remove', {}, c.rootContext);
    awaitingRemoval.set(e.callId, c);
    if (awaitingRemoval.size > MAX_AWAITING_REMOVAL) {
      const [oldest, spans] = awaitingRemoval.entries().next().value!;
      spans.removal?.setStatus({ code: SpanStatusCode.ERROR, message: 'removal not reported' });
      spans.removal?.end();
      awaitingRemoval.delete(oldest);
    }
  };

  const onEvent = (e: ExecutionEvent) => {
    if (e.type === 'queued') return onQueued(e);
    if (e.type === 'removed') {
      const c = awaitingRemoval.get(e.callId);
      c?.removal?.end();
      awaitingRemoval.delete(e.callId);
      return;
    }
    const c = calls.get(e.callId);
    if (!c) return;
    switch (e.type) {
      case 'admitted':
        c.queue?.end();
        c.queue = undefined;
        c.acquire = tracer.startSpan('sandbox.acquire', {}, c.rootContext);
        return;
      case 'started':
        c.acquire?.setAttribute('mcp_conductor.sandbox.source', e.source);
        c.acquire?.end();
        c.acquire = undefined;
        c.root.setAttribute('mcp_conductor.execution_id', e.executionId);
        c.run = tracer.startSpan('sandbox.run', {}, c.rootContext);
        c.runContext = trace.setSpan(ROOT_CONTEXT, c.run);
        return;
      case 'mcp_call': {
        const attributes: Attributes = {
          'mcp_conductor.mcp.server': bounded(e.server),
          'mcp_conductor.mcp.op': e.op,
          'mcp_conductor.mcp.status': e.status,
        };
        if (e.name !== undefined) attributes['mcp_conductor.mcp.tool'] = bounded(e.name);
        if (e.errorCode !== undefined) attributes['error.type'] = e.errorCode;
        const parent = c.runContext ?? c.rootContext;
        const ok = e.status === 'ok';
        ids.with({ spanId: e.spanId }, () =>
          pastSpan(tracer, `mcpFactory.${e.op}`, parent, e.durationMs, attributes, ok),
        );
        return;
      }
      case 'egress': {
        const attributes: Attributes = {
          'http.request.method': bounded(e.method),
          'server.address': bounded(e.host),
          'mcp_conductor.egress.outcome': e.outcome,
          'mcp_conductor.egress.response_bytes': e.bytes,
        };
        if (e.rule !== undefined) attributes['mcp_conductor.egress.rule'] = e.rule;
        if (e.status !== undefined) attributes['http.response.status_code'] = e.status;
        pastSpan(tracer, 'egress', c.runContext ?? c.rootContext, e.ms, attributes, e.outcome === 'ok');
        return;
      }
      case 'finished':
        return onFinished(e, c);
      default:
        return;
    }
  };

  const unsubscribe = bus.subscribe(onEvent);
  return () => {
    unsubscribe();
    for (const c of calls.values()) {
      for (const span of [c.queue, c.acquire, c.run]) span?.end();
      c.root.end();
    }
    for (const c of awaitingRemoval.values()) c.removal?.end();
    calls.clear();
    awaitingRemoval.clear();
  };
}

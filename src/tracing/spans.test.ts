import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { createEventStream, type ExecutionEvent } from '../core/index.js';
import { PresetIds } from './preset-ids.js';
import { traceExecutions } from './spans.js';

const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN = '00f067aa0ba902b7';
/** the span id the executor chose for an mcpFactory call (and told the upstream) */
const CALL_SPAN = 'b7ad6b7169203331';
const NEW_TRACE = '0af7651916cd43dd8448eb211c80319c';

function setUp() {
  const exporter = new InMemorySpanExporter();
  const ids = new PresetIds();
  const provider = new TracerProvider({
    idGenerator: ids,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const bus = createEventStream<ExecutionEvent>((e) => {
    throw e;
  });
  const stop = traceExecutions(bus, provider.getTracer('test'), ids);
  const spans = () => exporter.getFinishedSpans();
  const named = (name: string) => spans().find((s) => s.name === name)!;
  return { bus, stop, spans, named };
}

const ids = { callId: 'call-1', tenant: 'acme' };
const run = { ...ids, executionId: 'exec-1' };

describe('traces from execution events', () => {
  it('one trace per call under the caller: queue, acquire, run with its calls and requests, then removal', () => {
    const { bus, named, spans } = setUp();
    bus.emit({
      type: 'queued',
      ...ids,
      codeSha256: 'ab'.repeat(32),
      codeBytes: 12,
      timeoutMs: 5000,
      trace: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
    });
    bus.emit({ type: 'admitted', ...ids });
    bus.emit({ type: 'started', ...run, source: 'pool' });
    bus.emit({ type: 'output', ...run, stream: 'stdout', text: 'never in a span' });
    bus.emit({
      type: 'mcp_call',
      ...run,
      server: 'github',
      op: 'callTool',
      name: 'search',
      status: 'ok',
      durationMs: 30,
      spanId: CALL_SPAN,
    });
    bus.emit({
      type: 'mcp_call',
      ...run,
      server: 'x'.repeat(1000),
      op: 'load',
      status: 'denied',
      errorCode: 'denied',
      durationMs: 0,
    });
    bus.emit({
      type: 'egress',
      ...run,
      method: 'GET',
      host: 'api.github.com:443',
      rule: 'api.github.com',
      path: '/repos/acme/secret-path',
      status: 200,
      outcome: 'ok',
      bytes: 512,
      ms: 40,
      secrets: ['GITHUB_TOKEN'],
    });
    bus.emit({
      type: 'finished',
      ...run,
      status: 'success',
      durationMs: 120,
      resources: {
        exitReason: 'completed',
        peakMemoryBytes: 1 << 20,
        cpuMs: 42,
        mcpCalls: 2,
      },
    });
    expect(spans().map((s) => s.name)).not.toContain('sandbox.remove');
    bus.emit({ type: 'removed', ...run });

    expect(
      spans()
        .map((s) => s.name)
        .sort(),
    ).toEqual(
      [
        'egress',
        'mcpFactory.callTool',
        'mcpFactory.load',
        'queue',
        'run_deno_code',
        'sandbox.acquire',
        'sandbox.remove',
        'sandbox.run',
      ].sort(),
    );
    for (const s of spans()) expect(s.spanContext().traceId).toBe(CALLER_TRACE);
    const root = named('run_deno_code');
    const rootId = root.spanContext().spanId;
    expect(root.parentSpanContext?.spanId).toBe(CALLER_SPAN);
    for (const name of ['queue', 'sandbox.acquire', 'sandbox.run', 'sandbox.remove'])
      expect(named(name).parentSpanContext?.spanId).toBe(rootId);
    const runId = named('sandbox.run').spanContext().spanId;
    for (const name of ['mcpFactory.callTool', 'mcpFactory.load', 'egress'])
      expect(named(name).parentSpanContext?.spanId).toBe(runId);

    expect(root.attributes).toEqual({
      'mcp_conductor.tenant': 'acme',
      'mcp_conductor.call_id': 'call-1',
      'mcp_conductor.code.sha256': 'ab'.repeat(32),
      'mcp_conductor.code.bytes': 12,
      'mcp_conductor.timeout_ms': 5000,
      'mcp_conductor.execution_id': 'exec-1',
      'mcp_conductor.status': 'success',
      'mcp_conductor.duration_ms': 120,
      'mcp_conductor.exit_reason': 'completed',
      'mcp_conductor.peak_memory_bytes': 1 << 20,
      'mcp_conductor.cpu_ms': 42,
      'mcp_conductor.mcp_calls': 2,
    });
    expect(named('sandbox.acquire').attributes).toEqual({ 'mcp_conductor.sandbox.source': 'pool' });
    const call = named('mcpFactory.callTool');
    expect(call.spanContext().spanId).toBe(CALL_SPAN);
    const spanIds = spans().map((s) => s.spanContext().spanId);
    expect(new Set(spanIds).size).toBe(spanIds.length);
    expect(call.attributes).toEqual({
      'mcp_conductor.mcp.server': 'github',
      'mcp_conductor.mcp.op': 'callTool',
      'mcp_conductor.mcp.tool': 'search',
      'mcp_conductor.mcp.status': 'ok',
    });
    const [s0, s1] = [call.startTime, call.endTime];
    expect((s1[0] - s0[0]) * 1e3 + (s1[1] - s0[1]) / 1e6).toBeCloseTo(30, 0);
    const denied = named('mcpFactory.load');
    expect(denied.status.code).toBe(2);
    expect(String(denied.attributes['mcp_conductor.mcp.server'])).toHaveLength(256);
    expect(named('egress').attributes).toEqual({
      'http.request.method': 'GET',
      'server.address': 'api.github.com:443',
      'mcp_conductor.egress.rule': 'api.github.com',
      'mcp_conductor.egress.outcome': 'ok',
      'mcp_conductor.egress.response_bytes': 512,
      'http.response.status_code': 200,
    });
    // Never the output, the request's path or the names of the secrets it used.
    const everything = JSON.stringify(spans().map((s) => [s.name, s.attributes]));
    for (const hidden of ['never in a span', 'secret-path', 'GITHUB_TOKEN'])
      expect(everything).not.toContain(hidden);
  });

  it('a call refused before it ran is a root and its queue span, both errors, in a trace of its own', () => {
    const { bus, spans, named } = setUp();
    bus.emit({
      type: 'queued',
      ...ids,
      codeSha256: 'cd'.repeat(32),
      codeBytes: 3,
      timeoutMs: 1000,
      traceId: NEW_TRACE,
    });
    bus.emit({
      type: 'finished',
      ...ids,
      status: 'rejected',
      durationMs: 1,
      error: { code: 'rate_limited', message: 'Too many executions' },
    });
    expect(
      spans()
        .map((s) => s.name)
        .sort(),
    ).toEqual(['queue', 'run_deno_code']);
    const root = named('run_deno_code');
    expect(root.parentSpanContext).toBeUndefined();
    // The trace the executor chose (and would have told upstream servers); the ids it did not choose are random.
    for (const s of spans()) expect(s.spanContext().traceId).toBe(NEW_TRACE);
    expect(root.spanContext().spanId).not.toBe(named('queue').spanContext().spanId);
    expect(root.status).toEqual({ code: 2, message: 'rate_limited' });
    expect(root.attributes['error.type']).toBe('rate_limited');
    expect(named('queue').status.code).toBe(2);
  });

  it('a malformed traceparent starts a new trace; closing ends what is open', () => {
    const { bus, spans, stop } = setUp();
    bus.emit({
      type: 'queued',
      ...ids,
      codeSha256: '',
      codeBytes: 0,
      timeoutMs: 1,
      trace: { traceparent: 'garbage' },
    });
    bus.emit({ type: 'admitted', ...ids });
    stop();
    expect(
      spans()
        .map((s) => s.name)
        .sort(),
    ).toEqual(['queue', 'run_deno_code', 'sandbox.acquire']);
    expect(spans()[0]!.spanContext().traceId).not.toBe(CALLER_TRACE);
    bus.emit({ type: 'started', ...run, source: 'cold' });
    expect(spans()).toHaveLength(3);
  });
});

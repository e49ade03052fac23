import { describe, expect, it } from 'vitest';
import { createEventStream, type ExecutionEvent } from '../core/index.js';
import { countExecutions, createMetrics } from './metrics.js';

describe('metrics from execution events', () => {
  it('labels mcpFactory calls by the tenant’s servers only: any other name the code sends is `unknown`', async () => {
    const bus = createEventStream<ExecutionEvent>();
    const metrics = createMetrics();
    countExecutions(bus, metrics, (tenant) => (tenant === 'acme' ? ['mem'] : []));
    const call = (tenant: string, server: string) =>
      bus.emit({
        type: 'mcp_call',
        callId: 'c',
        tenant,
        executionId: 'e',
        server,
        op: 'load',
        status: 'ok',
        durationMs: 1,
      });
    call('acme', '-');
    call('acme', 'mem');
    call('globex', 'mem');
    for (let i = 0; i < 50; i++) call('acme', `made-up-${i}`);
    call('acme', 'x'.repeat(200));
    const values = (await metrics.mcpCalls.get()).values.map((v) => [v.labels.server, v.value]);
    expect(values).toEqual([
      ['-', 1],
      ['mem', 1],
      ['unknown', 52],
    ]);
  });
});

describe('metrics', () => {
  it('names every metric once under mcp_conductor_, the Node process ones included', async () => {
    const names = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names.every((n) => n.startsWith('mcp_conductor_'))).toBe(true);
    expect(names.filter((n) => /process_process|nodejs_nodejs/.test(n))).toEqual([]);
    expect(names).toContain('mcp_conductor_process_resident_memory_bytes');
    expect(names).toContain('mcp_conductor_nodejs_eventloop_lag_seconds');
  });
});

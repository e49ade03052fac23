import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEventStream, type ExecutionEvent } from '../core/index.js';
import { auditExecutions, createAuditLog } from './audit.js';

// printf %s '1 + 1' | sha256sum
const SHA = '72fce59447a01f488b1169d2d742679cfe306a89772d67fef018bcfe95431f68';

describe('audit log', () => {
  it('appends one JSON line per call from its events, with the code hash, never the code', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mcpc-audit-')), 'audit.jsonl');
    const errors: unknown[] = [];
    const log = createAuditLog(path, (e) => errors.push(e));
    const bus = createEventStream<ExecutionEvent>();
    auditExecutions(bus, log);
    const a = { callId: 'c-1', tenant: 'acme' };
    const b = { callId: 'c-2', tenant: 'globex' };
    bus.emit({ type: 'queued', ...a, codeSha256: SHA, codeBytes: 5, timeoutMs: 1000 });
    bus.emit({ type: 'queued', ...b, codeSha256: SHA, codeBytes: 5, timeoutMs: 1000 });
    bus.emit({ type: 'started', ...a, executionId: 'e-1', source: 'pool' });
    bus.emit({
      type: 'mcp_call',
      ...a,
      executionId: 'e-1',
      server: 'memory',
      op: 'callTool',
      name: 'read_graph',
      status: 'ok',
      durationMs: 3,
    });
    bus.emit({
      type: 'finished',
      ...b,
      status: 'rejected',
      durationMs: 0,
      error: { code: 'overloaded', message: 'Too many executions' },
    });
    bus.emit({
      type: 'finished',
      ...a,
      executionId: 'e-1',
      status: 'success',
      durationMs: 12,
      resources: { exitReason: 'completed', exitCode: 0, peakMemoryBytes: 1024, mcpCalls: 1 },
    });
    await log.flush();
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ tenant: 'globex', status: 'rejected', error: { code: 'overloaded' } });
    expect(second).toMatchObject({
      tenant: 'acme',
      executionId: 'e-1',
      codeSha256: SHA,
      codeBytes: 5,
      status: 'success',
      durationMs: 12,
      resources: { exitReason: 'completed', exitCode: 0, peakMemoryBytes: 1024, mcpCalls: 1 },
      mcpCalls: [{ server: 'memory', op: 'callTool', name: 'read_graph', ok: true }],
    });
    expect(errors).toEqual([]);
  });

  it('carries the egress requests of the execution, [] when there were none', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mcpc-audit-')), 'audit.jsonl');
    const log = createAuditLog(path, () => undefined);
    const bus = createEventStream<ExecutionEvent>();
    auditExecutions(bus, log);
    const request = {
      method: 'GET',
      host: 'api.github.com:443',
      rule: 'api.github.com',
      path: '/user',
      status: 200,
      outcome: 'ok' as const,
      bytes: 512,
      ms: 80,
      secrets: ['GITHUB_TOKEN'],
    };
    for (const callId of ['c-1', 'c-2']) {
      const ids = { callId, tenant: 'acme' };
      bus.emit({ type: 'queued', ...ids, codeSha256: SHA, codeBytes: 5, timeoutMs: 1000 });
      bus.emit({ type: 'started', ...ids, executionId: `e-${callId}`, source: 'pool' });
      if (callId === 'c-1') bus.emit({ type: 'egress', ...ids, executionId: 'e-c-1', ...request });
      bus.emit({ type: 'finished', ...ids, executionId: `e-${callId}`, status: 'success', durationMs: 9 });
    }
    await log.flush();
    const [first, second] = (await readFile(path, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first!.egress).toEqual([request]);
    expect(second!.egress).toEqual([]);
  });
});

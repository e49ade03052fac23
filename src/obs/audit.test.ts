import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createAuditLog, type ExecutionOutcome } from './audit.js';

const outcome = (over: Partial<ExecutionOutcome>): ExecutionOutcome => ({
  status: 'success',
  code: '1 + 1',
  durationMs: 12,
  mcpCalls: [],
  ...over,
});

describe('audit log', () => {
  it('appends one JSON line per call with the code hash, never the code', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mcpc-audit-')), 'audit.jsonl');
    const errors: unknown[] = [];
    const log = createAuditLog(path, (e) => errors.push(e));
    log.record(
      'acme',
      outcome({
        executionId: 'e-1',
        resources: { exitReason: 'completed', exitCode: 0, peakMemoryBytes: 1024, mcpCalls: 1 },
        mcpCalls: [{ server: 'memory', op: 'callTool', name: 'read_graph', ok: true }],
      }),
    );
    log.record(
      'globex',
      outcome({ status: 'rejected', error: { code: 'overloaded', message: 'Too many executions' } }),
    );
    await log.flush();
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2);
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({
      tenant: 'acme',
      executionId: 'e-1',
      // printf %s '1 + 1' | sha256sum
      codeSha256: '72fce59447a01f488b1169d2d742679cfe306a89772d67fef018bcfe95431f68',
      codeBytes: 5,
      status: 'success',
      resources: { exitReason: 'completed', exitCode: 0, peakMemoryBytes: 1024, mcpCalls: 1 },
      mcpCalls: [{ server: 'memory', op: 'callTool', name: 'read_graph', ok: true }],
    });
    expect(JSON.stringify(first)).not.toContain('1 + 1');
    expect(second).toMatchObject({ tenant: 'globex', status: 'rejected', error: { code: 'overloaded' } });
    expect(errors).toEqual([]);
  });
});

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, fixturePolicy, startConductor, startHttpServer } from './helpers.js';

const docker = inject('docker');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The audit file's records once it has `count` lines (the conductor appends after it answers). */
async function auditLines(path: string, count: number): Promise<Record<string, unknown>[]> {
  let lines: string[] = [];
  for (let i = 0; i < 100 && lines.length < count; i++) {
    lines = (await readFile(path, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    if (lines.length < count) await new Promise((r) => setTimeout(r, 100));
  }
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe.skipIf(!docker)('audit log (real Docker)', () => {
  afterAll(expectNoLeftovers);

  it('stdio writes MCP_CONDUCTOR_AUDIT_LOG: one line per call with hash and resources, the refused one too', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'mcpc-audit-')), 'audit.jsonl');
    const c = await startConductor('stdio', {
      MCP_CONDUCTOR_AUDIT_LOG: path,
      MCP_CONDUCTOR_POLICY: fixturePolicy('small'),
      MCP_CONDUCTOR_POOL_SIZE: '1',
      MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE: '3',
    });
    try {
      const codes = [
        '1 + 1',
        'let n = 0;\nfor (let i = 0; i < 3e7; i++) n += i;\nn > 0',
        'throw new Error("no")',
      ];
      for (const code of codes) await c.run(code);
      const refused = await c.run('2 + 2');
      expect(refused.isError).toBe(true);
      expect(refused.text).toMatch(
        /^Execution failed\n--- error ---\nToo many executions: the limit is 3 per minute\. The next one is possible in \d+ s\.$/,
      );
    } finally {
      await c.close();
    }
    const [ok, busy, thrown, rejected] = await auditLines(path, 4);
    expect(ok).toMatchObject({
      tenant: 'local',
      codeSha256: sha256('1 + 1'),
      codeBytes: 5,
      status: 'success',
      resources: { exitReason: 'completed' },
      mcpCalls: [],
    });
    expect(ok!.executionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(ok)).not.toContain('1 + 1');
    // A loop of 3e7 steps is CPU work the cgroup counts; the trivial run is far cheaper.
    const cpu = (r: Record<string, unknown> | undefined) => (r!.resources as { cpuMs?: number }).cpuMs!;
    expect(cpu(busy)).toBeGreaterThan(cpu(ok));
    expect(thrown).toMatchObject({ status: 'error', resources: { exitReason: 'exception' } });
    expect(rejected).toMatchObject({
      status: 'rejected',
      codeSha256: sha256('2 + 2'),
      error: { code: 'rate_limited' },
    });
    expect(rejected!.executionId).toBeUndefined();
  });

  it('serve: --audit-log wins over MCP_CONDUCTOR_AUDIT_LOG', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-audit-'));
    const [fromEnv, fromFlag] = [join(dir, 'env.jsonl'), join(dir, 'flag.jsonl')];
    const server = await startHttpServer({ MCP_CONDUCTOR_AUDIT_LOG: fromEnv, MCP_CONDUCTOR_POOL_SIZE: '0' }, [
      '--audit-log',
      fromFlag,
    ]);
    const client = new Client({ name: 'audit-test', version: '1' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
      await client.callTool({ name: 'run_deno_code', arguments: { deno_code: '40 + 2' } });
    } finally {
      await client.close();
      await server.stop();
    }
    expect(await auditLines(fromFlag, 1)).toMatchObject([
      { status: 'success', codeSha256: sha256('40 + 2') },
    ]);
    expect(await readFile(fromEnv, 'utf8').catch(() => 'absent')).toBe('absent');
  });
});

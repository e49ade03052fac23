import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { PolicySchema } from '../config/policy.js';
import { DockerUnavailableError, OverloadedError, type ExecutionResult } from '../core/index.js';
import { createSilentLogger, type ExecutionOutcome } from '../obs/index.js';
import type { ExecutionRequest, Executor } from '../sandbox/index.js';
import { createServer } from './server.js';

const ok: ExecutionResult = {
  status: 'success',
  returnValue: 2,
  stdout: '',
  stderr: '',
  durationMs: 5,
  truncated: { stdout: false, stderr: false, returnValue: false },
  resources: { exitReason: 'completed', exitCode: 0 },
};

/** A stand-in for the executor: these tests are about the tool's bookkeeping, not about running code. */
function fakeExecutor(behaviour: (req: ExecutionRequest) => Promise<ExecutionResult>): Executor {
  return { execute: behaviour, drain: () => Promise.resolve(), active: 0 };
}

async function connected(executor: Executor, stopping?: AbortSignal) {
  const outcomes: ExecutionOutcome[] = [];
  const server = createServer({
    executor,
    profile: {
      image: 'test',
      policy: PolicySchema.parse({}),
      permissions: {},
      tenant: 'local',
      workspaceDir: undefined,
    },
    dependencies: [],
    directory: undefined,
    logger: createSilentLogger(),
    version: '0',
    onExecution: (o) => outcomes.push(o),
    stopping,
  });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 't', version: '1' });
  await client.connect(b);
  const run = async (code: string) =>
    (await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } })) as CallToolResult;
  const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  return { client, outcomes, run, text, close: () => client.close() };
}

describe('run_deno_code outcomes', () => {
  it('reports the execution id, the resources and the status of a run', async () => {
    const c = await connected(
      fakeExecutor((req) => {
        req.admit?.();
        req.onStart?.('exec-1');
        return Promise.resolve(ok);
      }),
    );
    expect((await c.run('1 + 1')).isError).toBeFalsy();
    expect(c.outcomes).toEqual([
      {
        status: 'success',
        code: '1 + 1',
        executionId: 'exec-1',
        durationMs: 5,
        resources: ok.resources,
        mcpCalls: [],
      },
    ]);
    await c.close();
  });

  it('counts a refusal as rejected and a conductor failure as failed, with their codes', async () => {
    const errors = [new OverloadedError('Too many executions'), new DockerUnavailableError('Docker is down')];
    const c = await connected(fakeExecutor(() => Promise.reject(errors.shift()!)));
    const refused = await c.run('1');
    const failed = await c.run('2');
    expect(refused.isError).toBe(true);
    expect(c.text(refused)).toContain('Too many executions');
    expect(c.text(failed)).toContain('Docker is down');
    expect(c.outcomes.map((o) => [o.status, o.error?.code])).toEqual([
      ['rejected', 'overloaded'],
      ['failed', 'docker_unavailable'],
    ]);
    await c.close();
  });

  it('on shutdown refuses a waiting execution at once and never admits it; a running one finishes', async () => {
    const stopping = new AbortController();
    let releaseQueue = () => {};
    const queue = new Promise<void>((r) => (releaseQueue = r));
    const admitted: string[] = [];
    let finishRunning = () => {};
    const c = await connected(
      fakeExecutor(async (req) => {
        if (req.code === 'running') {
          req.admit?.();
          admitted.push(req.code);
          await new Promise<void>((r) => (finishRunning = r));
          return ok;
        }
        await queue; // waiting for a slot
        req.admit?.(); // throws once shutdown has begun
        admitted.push(req.code);
        return ok;
      }),
      stopping.signal,
    );
    const running = c.run('running');
    const waiting = c.run('waiting');
    await new Promise((r) => setTimeout(r, 20));
    stopping.abort();
    const refused = await waiting;
    expect(c.text(refused)).toContain('shutting down');
    releaseQueue();
    finishRunning();
    expect((await running).isError).toBeFalsy();
    expect(c.text(await c.run('after'))).toContain('shutting down');
    expect(admitted).toEqual(['running']);
    expect(c.outcomes.map((o) => o.status).sort()).toEqual(['rejected', 'rejected', 'success']);
    await c.close();
  });
});

describe('companion tools with no upstream server configured', () => {
  it('are listed and say plainly that no server is configured', async () => {
    const c = await connected(fakeExecutor(() => Promise.reject(new Error('not called'))));
    const { tools } = await c.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['get_tools', 'list_mcp_servers', 'run_deno_code']);
    const list = (await c.client.callTool({ name: 'list_mcp_servers', arguments: {} })) as CallToolResult;
    expect(c.text(list)).toBe('No MCP servers are configured for this conductor.');
    const get = (await c.client.callTool({
      name: 'get_tools',
      arguments: { server: 'github' },
    })) as CallToolResult;
    expect(get.isError).toBe(true);
    expect(c.text(get)).toBe(
      'Unknown MCP server "github": no MCP servers are configured for this conductor.',
    );
    await c.close();
  });
});

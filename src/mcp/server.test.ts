import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { PolicySchema } from '../config/policy.js';
import { DockerUnavailableError, OverloadedError, type ExecutionResult } from '../core/index.js';
import { createSilentLogger } from '../obs/index.js';
import { EMPTY_DIRECTORY } from '../proxy/index.js';
import type { Execution, ExecutionRequest, Executor } from '../sandbox/index.js';
import { createToolTypes } from '../typed/index.js';
import { createServer } from './server.js';
import { createTaskRegistry } from './tasks.js';

const ok: ExecutionResult = {
  status: 'success',
  returnValue: 2,
  stdout: '',
  stderr: '',
  durationMs: 5,
  truncated: { stdout: false, stderr: false, returnValue: false },
  resources: { exitReason: 'completed', exitCode: 0 },
};

/** A stand-in for the executor: these tests are about what the tool answers, not about running code. */
function fakeExecutor(behaviour: (req: ExecutionRequest) => Promise<Execution>): Executor {
  return { execute: behaviour, drain: () => Promise.resolve(), active: 0 };
}

async function connected(executor: Executor) {
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
    directory: EMPTY_DIRECTORY,
    toolTypes: createToolTypes(EMPTY_DIRECTORY),
    tasks: createTaskRegistry({ ttlMs: 60_000 }),
    logger: createSilentLogger(),
    version: '0',
  });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 't', version: '1' });
  await client.connect(b);
  const run = async (code: string) =>
    (await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } })) as CallToolResult;
  const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  return { client, run, text, close: () => client.close() };
}

describe('run_deno_code answers', () => {
  it('gives the result as text and structuredContent', async () => {
    const c = await connected(fakeExecutor(() => Promise.resolve({ executionId: 'exec-1', result: ok })));
    const r = await c.run('1 + 1');
    expect(r.isError).toBeFalsy();
    expect(c.text(r)).toBe('Execution successful\nReturn value: 2');
    expect(r.structuredContent).toEqual(ok);
    await c.close();
  });

  it('answers a refusal and a conductor failure as errors with their messages, never a protocol error', async () => {
    const errors = [new OverloadedError('Too many executions'), new DockerUnavailableError('Docker is down')];
    const c = await connected(fakeExecutor(() => Promise.reject(errors.shift()!)));
    const refused = await c.run('1');
    const failed = await c.run('2');
    expect(refused.isError).toBe(true);
    expect(c.text(refused)).toBe('Execution failed\n--- error ---\nToo many executions');
    expect(c.text(failed)).toContain('Docker is down');
    await c.close();
  });

  it('hides the details of a bug', async () => {
    const c = await connected(fakeExecutor(() => Promise.reject(new Error('/secret/path exploded'))));
    const r = await c.run('1');
    expect(r.isError).toBe(true);
    expect(c.text(r)).not.toContain('/secret/path');
    expect(c.text(r)).toContain('Internal error in the conductor');
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

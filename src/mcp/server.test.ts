import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicySchema } from '../config/policy.js';
import { DockerUnavailableError, OverloadedError, type ExecutionResult } from '../core/index.js';
import { createSilentLogger } from '../obs/index.js';
import { EMPTY_DIRECTORY } from '../proxy/index.js';
import type { Execution, ExecutionRequest, Executor } from '../sandbox/index.js';
import { createPlaybookStore } from '../playbooks/index.js';
import { createToolTypes } from '../typed/index.js';
import type { ServerContext } from './context.js';
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

async function connected(executor: Executor, over: Partial<ServerContext> = {}) {
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
    playbooks: createPlaybookStore({ shippedDir: '/nonexistent', dir: '/nonexistent', canCreate: false }),
    tasks: createTaskRegistry({ ttlMs: 60_000 }),
    logger: createSilentLogger(),
    version: '0',
    ...over,
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
    expect(tools.map((t) => t.name).sort()).toEqual([
      'create_playbook',
      'get_playbook',
      'get_tools',
      'list_mcp_servers',
      'list_playbooks',
      'run_deno_code',
    ]);
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

describe('playbook tools and prompts', () => {
  const idle = fakeExecutor(() => Promise.reject(new Error('not called')));
  const withStore = async (canCreate: boolean) => {
    const dir = await mkdtemp(join(tmpdir(), 'mcp-playbooks-'));
    const playbooks = createPlaybookStore({
      shippedDir: join(dir, 'shipped'),
      dir: join(dir, 'own'),
      canCreate,
    });
    return { dir, c: await connected(idle, { playbooks }) };
  };
  const call = async (
    c: Awaited<ReturnType<typeof connected>>,
    name: string,
    args: Record<string, unknown>,
  ) => (await c.client.callTool({ name, arguments: args })) as CallToolResult;

  it('save, list and show a playbook; a bad name or a forbidden save is a tool error', async () => {
    const { dir, c } = await withStore(true);
    const saved = await call(c, 'create_playbook', {
      folder_name: 'sum-up',
      name: 'Sum up',
      description: 'adds numbers',
      content: '# Sum\nUse sum(xs).',
      code: 'export const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);',
      tags: ['math'],
    });
    expect(c.text(saved)).toBe('Saved playbook sum-up. Import it with `await importPlaybook("sum-up")`.');
    expect(c.text(await call(c, 'list_playbooks', {}))).toBe(
      'sum-up (Sum up) — adds numbers [math] (saved, importPlaybook)',
    );
    const got = c.text(await call(c, 'get_playbook', { folder_name: 'sum-up' }));
    expect(got).toContain('--- playbook.md ---\n---\nname: "Sum up"');
    expect(got).toContain('--- playbook.ts ---\nexport const sum');
    const bad = await call(c, 'get_playbook', { folder_name: '../etc' });
    expect(bad.isError).toBe(true);
    expect(c.text(bad)).toContain('invalid playbook name "../etc"');
    await c.close();
    const locked = await withStore(false);
    const refused = await call(locked.c, 'create_playbook', {
      folder_name: 'x',
      name: 'x',
      description: 'x',
      content: 'x',
    });
    expect(refused.isError).toBe(true);
    expect(locked.c.text(refused)).toContain('not allowed by the policy');
    await locked.c.close();
    await rm(dir, { recursive: true, force: true });
    await rm(locked.dir, { recursive: true, force: true });
  });

  it('writes the prompts from the configuration at each request', async () => {
    const { dir, c } = await withStore(true);
    const { prompts } = await c.client.listPrompts();
    expect(prompts.map((p) => p.name).sort()).toEqual(['execute_task', 'usage_guide']);
    const promptText = async (name: string, args: Record<string, string>) => {
      const r = await c.client.getPrompt({ name, arguments: args });
      const content = r.messages[0]!.content;
      return content.type === 'text' ? content.text : '';
    };
    const before = await promptText('usage_guide', { topic: 'playbooks' });
    expect(before).toContain('- none yet');
    await call(c, 'create_playbook', {
      folder_name: 'later',
      name: 'L',
      description: 'added later',
      content: 'x',
    });
    expect(await promptText('usage_guide', { topic: 'playbooks' })).toContain('- later (L) — added later');
    const task = await promptText('execute_task', { task: 'count the files', requirements: 'in one call' });
    expect(task).toContain('Task:\ncount the files');
    expect(task).toContain('Requirements:\nin one call');
    expect(task).toContain('No MCP servers are configured');
    expect(task).toContain('Limits: 30000 ms by default');
    expect(task).toContain('- later (L)');
    expect(await promptText('usage_guide', { topic: 'nope' })).toContain('There is no topic "nope"');
    await c.close();
    await rm(dir, { recursive: true, force: true });
  });
});

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import {
  CallToolResultSchema,
  LoggingMessageNotificationSchema,
  type CallToolResult,
  type LoggingMessageNotification,
  type Progress,
} from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { PolicySchema } from '../config/policy.js';
import { CancelledError, type ExecutionEvent, type ExecutionResult } from '../core/index.js';
import { createSilentLogger } from '../obs/index.js';
import { EMPTY_DIRECTORY } from '../proxy/index.js';
import type { ExecuteOptions, Execution, ExecutionRequest, Executor } from '../sandbox/index.js';
import { createPlaybookStore } from '../playbooks/index.js';
import { createToolTypes } from '../typed/index.js';
import { createServer } from './server.js';
import { createTaskRegistry, type TaskRegistry } from './tasks.js';

const ok: ExecutionResult = {
  status: 'success',
  returnValue: 2,
  stdout: 'hi\n',
  stderr: '',
  durationMs: 5,
  truncated: { stdout: false, stderr: false, returnValue: false },
  resources: { exitReason: 'completed' },
};
const ids = { callId: 'c', tenant: 'local' };
const exec = { ...ids, executionId: 'e1' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Behaviour = (req: ExecutionRequest, opts: ExecuteOptions) => Promise<Execution>;

/** The MCP face over an in-memory link, with a stand-in executor: these tests are about what a client sees. */
async function connect(behaviour: Behaviour, tasks: TaskRegistry = createTaskRegistry({ ttlMs: 60_000 })) {
  const executor: Executor = {
    execute: (r, o) => behaviour(r, o ?? {}),
    drain: () => Promise.resolve(),
    active: 0,
  };
  const ctx = {
    executor,
    profile: {
      image: 't',
      policy: PolicySchema.parse({}),
      permissions: {},
      tenant: 'local',
      workspaceDir: undefined,
    },
    dependencies: [],
    directory: EMPTY_DIRECTORY,
    toolTypes: createToolTypes(EMPTY_DIRECTORY),
    playbooks: createPlaybookStore({ shippedDir: '/nonexistent', dir: '/nonexistent', canCreate: false }),
    tasks,
    logger: createSilentLogger(),
    version: '0',
  };
  const server = createServer(ctx);
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 't', version: '1' });
  await client.connect(b);
  return { client, close: () => client.close() };
}

/** An execution that emits the events of a run lasting `ms`, then succeeds, unless its signal fires first. */
const running =
  (ms: number, extra: ExecutionEvent[] = []): Behaviour =>
  async (_req, { signal, events }) => {
    events?.emit({ type: 'queued', ...ids, codeSha256: 'x', codeBytes: 1, timeoutMs: 30_000 });
    events?.emit({ type: 'admitted', ...ids });
    events?.emit({ type: 'started', ...exec, source: 'pool' });
    extra.forEach((e) => events?.emit(e));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ms);
      signal?.addEventListener('abort', () => (clearTimeout(t), reject(new CancelledError())), {
        once: true,
      });
    });
    events?.emit({ type: 'finished', ...ids, executionId: 'e1', status: 'success', durationMs: ms });
    return { executionId: 'e1', result: ok };
  };

const call = { name: 'run_deno_code', arguments: { deno_code: '1 + 1' } };

type Schema = Record<string, unknown>;

/** A JSON Schema and every schema inside it (properties, items, additionalProperties, the combinators). */
function schemasIn(schema: Schema, path = '$'): { path: string; schema: Schema }[] {
  const inner: [string, unknown][] = [
    ...Object.entries((schema.properties ?? {}) as Record<string, unknown>).map(
      ([k, v]): [string, unknown] => [`${path}.${k}`, v],
    ),
    [`${path}[]`, schema.items],
    [`${path}{}`, schema.additionalProperties],
    ...['anyOf', 'oneOf', 'allOf'].flatMap((k) =>
      ((schema[k] ?? []) as unknown[]).map((v, i): [string, unknown] => [`${path}.${k}[${i}]`, v]),
    ),
  ];
  const nested = inner.filter((e): e is [string, Schema] => typeof e[1] === 'object' && e[1] !== null);
  return [{ path, schema }, ...nested.flatMap(([p, v]) => schemasIn(v, p))];
}

describe('run_deno_code: its schemas', () => {
  it('has a portable output schema: no type arrays, no empty schemas, no null', async () => {
    const c = await connect(running(0));
    const tool = (await c.client.listTools()).tools.find((t) => t.name === 'run_deno_code');
    const schemas = schemasIn(tool!.outputSchema as Schema);
    expect(schemas.map((s) => s.path)).toEqual(
      expect.arrayContaining(['$.returnValue', '$.resources.exitCode', '$.typeErrors[].line']),
    );
    for (const { path, schema } of schemas) {
      expect(Array.isArray(schema.type), path).toBe(false);
      expect(schema.type, path).not.toBe('null');
      expect(Object.keys(schema).length, path).toBeGreaterThan(0);
      expect(schema, path).not.toHaveProperty('anyOf');
    }
    expect(schemas.find((s) => s.path === '$.returnValue')?.schema).toEqual({
      description: expect.stringContaining('as JSON') as string,
    });
    await c.close();
  });

  it('advertises the policy’s maximum timeout and refuses a larger one, saying what the limit is', async () => {
    const c = await connect(running(0));
    const tool = (await c.client.listTools()).tools.find((t) => t.name === 'run_deno_code');
    const max = PolicySchema.parse({}).limits.maxTimeoutMs;
    expect(tool?.inputSchema.properties?.timeout).toMatchObject({ type: 'integer', maximum: max });
    const over = { name: 'run_deno_code', arguments: { deno_code: '1', timeout: max + 1 } };
    const refusal = await c.client.callTool(over).then(
      (r) => JSON.stringify(r),
      (e: Error) => e.message,
    );
    expect(refusal).toContain(`timeout is at most ${max} ms (the policy's limits.maxTimeoutMs)`);
    const r = (await c.client.callTool({
      ...over,
      arguments: { deno_code: '1', timeout: max },
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    await c.close();
  });
});

describe('run_deno_code as a live call', () => {
  it('declares logging and tasks, and optional task support on the tool', async () => {
    const c = await connect(running(0));
    expect(c.client.getServerCapabilities()).toMatchObject({
      logging: {},
      tasks: { list: {}, cancel: {}, requests: { tools: { call: {} } } },
    });
    const { tools } = await c.client.listTools();
    expect(tools.find((t) => t.name === 'run_deno_code')?.execution).toEqual({ taskSupport: 'optional' });
    await c.close();
  });

  it('answers a plain call at once, without any task showing', async () => {
    const c = await connect(running(0));
    const t0 = performance.now();
    const r = (await c.client.callTool(call)) as CallToolResult;
    expect(performance.now() - t0).toBeLessThan(250);
    expect(r.structuredContent).toEqual(ok);
    expect((await c.client.experimental.tasks.listTasks()).tasks).toEqual([]);
    await c.close();
  });

  it("hands the request's signal to the executor: the SDK's AbortSignal cancels the run", async () => {
    let seen: AbortSignal | undefined;
    const c = await connect((req, opts) => ((seen = opts.signal), running(10_000)(req, opts)));
    const stop = new AbortController();
    const pending = c.client.callTool(call, undefined, { signal: stop.signal });
    await sleep(50);
    stop.abort('the user pressed Stop');
    await expect(pending).rejects.toThrow();
    await sleep(20);
    expect(seen?.aborted).toBe(true);
    await c.close();
  });

  it('sends progress with resetTimeoutOnProgress keeping a call past its timeout alive', async () => {
    const c = await connect(
      running(2300, [{ type: 'progress', ...exec, progress: 1, total: 4, message: 'a' }]),
    );
    const seen: Progress[] = [];
    const r = (await c.client.callTool(call, undefined, {
      onprogress: (p) => seen.push(p),
      timeout: 1400,
      resetTimeoutOnProgress: true,
    })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(seen.slice(0, 4).map((p) => p.message)).toEqual([
      'queued',
      'starting',
      'running 0.0 s',
      'running 0.0 s: 1/4 a',
    ]);
    // the heartbeat, every second while it runs
    expect(seen.slice(4).map((p) => p.message)).toEqual([
      expect.stringMatching(/^running 1\.\d s: 1\/4 a$/),
      expect.stringMatching(/^running 2\.\d s: 1\/4 a$/),
    ]);
    expect(seen.map((p) => p.progress)).toEqual([1, 2, 3, 4, 5, 6]);
    await c.close();
  });

  it('streams output lines as log messages, at the level the session set', async () => {
    const out = (stream: 'stdout' | 'stderr', text: string): ExecutionEvent => ({
      type: 'output',
      ...exec,
      stream,
      text,
    });
    const c = await connect(running(0, [out('stdout', 'one\n'), out('stderr', 'two\n')]));
    const logs: LoggingMessageNotification['params'][] = [];
    c.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
    await c.client.callTool(call);
    await c.client.setLoggingLevel('warning');
    await c.client.callTool(call);
    await sleep(10);
    expect(logs.map((l) => [l.level, (l.data as { line: string }).line])).toEqual([
      ['info', 'one'],
      ['warning', 'two'],
      ['warning', 'two'],
    ]);
    await c.close();
  });
});

describe('run_deno_code as a task', () => {
  const asTask = async (c: Awaited<ReturnType<typeof connect>>) => {
    for await (const m of c.client.experimental.tasks.callToolStream(call, undefined, {
      task: { ttl: 999_999_999 },
    }))
      if (m.type === 'taskCreated') return m.task;
    throw new Error('no task');
  };

  it('returns a task at once; tasks/get, tasks/result and tasks/list serve it', async () => {
    const c = await connect(running(300));
    const t0 = performance.now();
    const task = await asTask(c);
    expect(performance.now() - t0).toBeLessThan(250);
    expect(task).toMatchObject({ status: 'working', ttl: 60_000 });
    expect((await c.client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toEqual([task.taskId]);
    const result = await c.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.structuredContent).toEqual(ok);
    expect((await c.client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    await c.close();
  });

  it('tasks/cancel stops the execution and the task stays cancelled', async () => {
    let seen: AbortSignal | undefined;
    const c = await connect((req, opts) => ((seen = opts.signal), running(10_000)(req, opts)));
    const task = await asTask(c);
    const cancelled = await c.client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    expect(seen?.aborted).toBe(true);
    const result = await c.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    expect(result.isError).toBe(true);
    expect((await c.client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    await expect(c.client.experimental.tasks.cancelTask(task.taskId)).rejects.toThrow(/terminal/);
    await c.close();
  });

  it("another tenant's registry does not know the task; a failed run is a failed task", async () => {
    const failing: Behaviour = () =>
      Promise.resolve({
        executionId: 'e',
        result: { ...ok, status: 'error', error: { name: 'Error', message: 'boom' } },
      });
    const mine = await connect(failing);
    const theirs = await connect(failing);
    const task = await asTask(mine);
    await mine.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema);
    const done = await mine.client.experimental.tasks.getTask(task.taskId);
    expect(done).toMatchObject({ status: 'failed', statusMessage: 'Execution failed: Error: boom' });
    await expect(theirs.client.experimental.tasks.getTask(task.taskId)).rejects.toThrow(/not found/i);
    await expect(
      theirs.client.experimental.tasks.getTaskResult(task.taskId, CallToolResultSchema),
    ).rejects.toThrow(/not found/i);
    await expect(theirs.client.experimental.tasks.cancelTask(task.taskId)).rejects.toThrow(/not found/i);
    expect((await theirs.client.experimental.tasks.listTasks()).tasks).toEqual([]);
    await mine.close();
    await theirs.close();
  });
});

/**
 * run_deno_code as an MCP task (spec 2025-11-25) through the SDK's client.experimental.tasks, over stdio and
 * Streamable HTTP: a task comes back at once, is polled and fetched, cancelled like a request, counts against the
 * concurrency limit, survives its client reconnecting to the session, and is invisible to another tenant.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, type Progress, type Task } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import {
  collectLogs,
  executionPrinting,
  expectNoLeftovers,
  goneWithin,
  startConductor,
  startHttpServer,
  TRANSPORTS,
  until,
  waitForManaged,
  type Conductor,
} from './helpers.js';

const docker = inject('docker');

/** Starts run_deno_code as a task and returns the task as created (the stream is left at once). */
async function startTask(client: Client, code: string, ttl?: number): Promise<Task> {
  const params = { name: 'run_deno_code', arguments: { deno_code: code } };
  for await (const m of client.experimental.tasks.callToolStream(params, CallToolResultSchema, {
    task: ttl === undefined ? {} : { ttl },
  })) {
    if (m.type === 'taskCreated') return m.task;
    if (m.type === 'error') throw m.error;
  }
  throw new Error('no task was created');
}

const resultOf = async (client: Client, taskId: string) =>
  (await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)).structuredContent as
    ExecutionResult | undefined;

describe.skipIf(!docker).each(TRANSPORTS)('tasks over %s', (kind) => {
  let c: Conductor;

  beforeAll(async () => {
    c = await startConductor(kind, { MCP_CONDUCTOR_MAX_CONCURRENCY: '1', MCP_CONDUCTOR_POOL_SIZE: '0' });
  });
  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('returns a task at once, which tasks/get, tasks/list and tasks/result serve', async () => {
    const t0 = performance.now();
    const task = await startTask(c.client, `await new Promise((r) => setTimeout(r, 1500)); 6 * 7`, 5_000);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(task).toMatchObject({ status: 'working', ttl: 5_000 });
    expect((await c.client.experimental.tasks.getTask(task.taskId)).status).toBe('working');
    const listed = (await c.client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId);
    expect(listed).toContain(task.taskId);
    expect((await resultOf(c.client, task.taskId))?.returnValue).toBe(42);
    expect((await c.client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
  });

  it('tasks/cancel stops the container; meanwhile a plain call waits for the one place', async () => {
    const logs = collectLogs(c.client);
    const task = await startTask(
      c.client,
      `console.log('up'); await new Promise(() => setInterval(() => {}, 1000))`,
    );
    // A task's log messages outlive its request: they go to the session (over HTTP, its GET stream).
    const executionId = await executionPrinting(logs, 'up');
    expect(logs[0]?._meta).toEqual({ 'io.modelcontextprotocol/related-task': { taskId: task.taskId } });
    const seen: Progress[] = [];
    const plain = c.client.callTool(
      { name: 'run_deno_code', arguments: { deno_code: '1 + 1' } },
      CallToolResultSchema,
      { onprogress: (p) => seen.push(p) },
    );
    await until(() => seen.length > 0);
    expect(seen.map((p) => p.message)).toEqual(['queued']);
    const cancelledAt = performance.now();
    const cancelled = await c.client.experimental.tasks.cancelTask(task.taskId);
    expect(cancelled.status).toBe('cancelled');
    expect(await goneWithin(executionId, cancelledAt)).toBeLessThan(1000);
    expect((await plain).structuredContent).toMatchObject({ returnValue: 2 });
    const stopped = await resultOf(c.client, task.taskId);
    expect(stopped?.resources.exitReason).toBe('cancelled');
    expect((await c.client.experimental.tasks.getTask(task.taskId)).status).toBe('cancelled');
    await waitForManaged((l) => l.length === 0);
  });

  it('a failed run is a failed task whose result is still there', async () => {
    const task = await startTask(c.client, `throw new Error('boom')`);
    const result = await resultOf(c.client, task.taskId);
    expect(result?.error?.message).toBe('boom');
    expect(await c.client.experimental.tasks.getTask(task.taskId)).toMatchObject({
      status: 'failed',
      statusMessage: 'Execution failed: Error: boom',
    });
  });
});

describe.skipIf(!docker)('tasks across HTTP sessions and tenants', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  const connect = async (token: string, sessionId?: string) => {
    const client = new Client({ name: 'tasks', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
      sessionId,
    });
    await client.connect(transport);
    return { client, transport };
  };

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-tasks-'));
    const tenants = join(dir, 'tenants.json');
    const sha = (t: string) => createHash('sha256').update(t).digest('hex');
    await writeFile(
      tenants,
      JSON.stringify({
        tenants: [
          { id: 'acme', tokenSha256: sha('acme-token') },
          { id: 'globex', tokenSha256: sha('globex-token') },
        ],
      }),
    );
    server = await startHttpServer({ MCP_CONDUCTOR_TENANTS: tenants, MCP_CONDUCTOR_POOL_SIZE: '0' });
  });
  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it("outlives its client's connection: the client comes back to the session and fetches the result", async () => {
    const first = await connect('acme-token');
    const task = await startTask(first.client, `await new Promise((r) => setTimeout(r, 1500)); 'kept'`);
    const sessionId = first.transport.sessionId;
    // Gone without ending the session (no DELETE): the connection drops, the session and its task stay.
    await first.client.close();
    const again = await connect('acme-token', sessionId);
    expect((await resultOf(again.client, task.taskId))?.returnValue).toBe('kept');
    await again.transport.terminateSession();
    await again.client.close();
  });

  it("serves a tenant's own tasks only: another tenant's task id is not found", async () => {
    const acme = await connect('acme-token');
    const globex = await connect('globex-token');
    const task = await startTask(acme.client, `'secret of acme'`);
    expect((await resultOf(acme.client, task.taskId))?.returnValue).toBe('secret of acme');
    const tasks = globex.client.experimental.tasks;
    await expect(tasks.getTask(task.taskId)).rejects.toThrow(/not found/i);
    await expect(tasks.getTaskResult(task.taskId, CallToolResultSchema)).rejects.toThrow(/not found/i);
    await expect(tasks.cancelTask(task.taskId)).rejects.toThrow(/not found/i);
    expect((await tasks.listTasks()).tasks.map((t) => t.taskId)).not.toContain(task.taskId);
    // Another session of the same tenant sees it: the tenant is the authorization context.
    const acme2 = await connect('acme-token');
    expect((await acme2.client.experimental.tasks.getTask(task.taskId)).status).toBe('completed');
    for (const s of [acme, globex, acme2]) {
      await s.transport.terminateSession();
      await s.client.close();
    }
  });
});

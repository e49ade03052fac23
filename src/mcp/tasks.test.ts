import type { Request } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it, vi } from 'vitest';
import { createTaskRegistry } from './tasks.js';

const asTask: Request = { method: 'tools/call', params: { name: 'run_deno_code', task: {} } };
const plain: Request = { method: 'tools/call', params: { name: 'run_deno_code' } };
const done = { content: [{ type: 'text', text: 'Execution successful' }] };

describe('task registry', () => {
  it('keeps a running task past its ttl, then its result for the ttl after it finished, and no longer', async () => {
    vi.useFakeTimers();
    try {
      const r = createTaskRegistry({ ttlMs: 60_000 });
      const t = await r.createTask({ ttl: 5000 }, 1, asTask);
      await vi.advanceTimersByTimeAsync(6000);
      expect(await r.getTask(t.taskId)).toMatchObject({ status: 'working' });
      await r.storeTaskResult(t.taskId, 'completed', done);
      await vi.advanceTimersByTimeAsync(4900);
      expect(await r.getTaskResult(t.taskId)).toEqual(done);
      await vi.advanceTimersByTimeAsync(200);
      expect(await r.getTask(t.taskId)).toBeNull();
      await expect(r.getTaskResult(t.taskId)).rejects.toThrow(/not found/);
    } finally {
      vi.useRealTimers();
    }
  });

  it('caps the ttl between 1 s and the policy’s, and gives the policy’s when none is asked for', async () => {
    const r = createTaskRegistry({ ttlMs: 60_000 });
    expect((await r.createTask({ ttl: 10 ** 9 }, 1, asTask)).ttl).toBe(60_000);
    expect((await r.createTask({ ttl: -5 }, 2, asTask)).ttl).toBe(1000);
    expect((await r.createTask({ ttl: 5000 }, 3, asTask)).ttl).toBe(5000);
    expect((await r.createTask({}, 4, asTask)).ttl).toBe(60_000);
  });

  it('hides a plain call routed through tasks, and forgets it once its answer is read', async () => {
    const r = createTaskRegistry({ ttlMs: 60_000 });
    const t = await r.createTask({}, 1, plain);
    expect(r.isAugmented(t.taskId)).toBe(false);
    expect(await r.getTask(t.taskId)).toBeNull();
    expect((await r.listTasks()).tasks).toEqual([]);
    await r.storeTaskResult(t.taskId, 'completed', done);
    expect(await r.getTaskResult(t.taskId)).toEqual(done);
    await expect(r.getTaskResult(t.taskId)).rejects.toThrow(/not found/);
  });

  it('pages tasks/list with an opaque cursor and refuses an unknown one', async () => {
    const r = createTaskRegistry({ ttlMs: 60_000, maxKept: 200 });
    for (let i = 0; i < 60; i++) await r.createTask({}, i, asTask);
    const first = await r.listTasks();
    expect(first.tasks).toHaveLength(50);
    const second = await r.listTasks(first.nextCursor);
    expect(second.tasks).toHaveLength(10);
    expect(second.nextCursor).toBeUndefined();
    await expect(r.listTasks('nope')).rejects.toThrow(/cursor/);
  });

  it('keeps at most maxKept tasks: the oldest finished goes first, none when all still run', async () => {
    const r = createTaskRegistry({ ttlMs: 60_000, maxKept: 2 });
    const a = await r.createTask({}, 1, asTask);
    const b = await r.createTask({}, 2, asTask);
    await expect(r.createTask({}, 3, asTask)).rejects.toThrow(/Too many tasks in progress/);
    await r.storeTaskResult(a.taskId, 'completed', done);
    const c = await r.createTask({}, 4, asTask);
    expect((await r.listTasks()).tasks.map((t) => t.taskId)).toEqual([b.taskId, c.taskId]);
  });

  it('cancelling aborts the task’s stop signal; a later result keeps the cancelled status', async () => {
    const r = createTaskRegistry({ ttlMs: 60_000 });
    const t = await r.createTask({}, 1, asTask);
    const stop = r.stopSignal(t.taskId);
    await r.updateTaskStatus(t.taskId, 'cancelled', 'by request');
    expect(stop.aborted).toBe(true);
    await expect(r.updateTaskStatus(t.taskId, 'working')).rejects.toThrow(/already cancelled/);
    await r.storeTaskResult(t.taskId, 'completed', done);
    expect((await r.getTask(t.taskId))?.status).toBe('cancelled');
    expect(await r.getTaskResult(t.taskId)).toEqual(done);
  });
});

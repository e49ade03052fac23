import type {
  CreateTaskOptions,
  CreateTaskRequestHandlerExtra,
  TaskStore,
} from '@modelcontextprotocol/sdk/experimental/tasks/interfaces.js';
import type { CreateTaskResult } from '@modelcontextprotocol/sdk/experimental/tasks/types.js';
import type { CallToolResult, Request, RequestId, Result, Task } from '@modelcontextprotocol/sdk/types.js';
import { randomUUID } from 'node:crypto';
import { CancelledError } from '../core/index.js';

/** Terminal tasks kept per tenant at most; past it the oldest finished one goes first (its TTL notwithstanding). */
const MAX_KEPT = 100;
const PAGE_SIZE = 50;
/** What tasks/get suggests between polls; tasks/result also waits this long between looks. */
const POLL_INTERVAL_MS = 500;
/** The shortest ttl a task gets, whatever it asks for. */
const MIN_TTL_MS = 1000;

/** A TaskStore method answers with a promise: what goes wrong rejects it, never throws at the caller. */
function attempt<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

const isTerminal = (s: Task['status']) => s === 'completed' || s === 'failed' || s === 'cancelled';

/** tasks/get's word on a failed run: its headline, and the error when the result names one. */
function failureText(result: Result): string {
  const r = result as Partial<CallToolResult>;
  const headline = r.content?.find((c) => c.type === 'text')?.text.split('\n')[0] ?? 'Execution failed';
  const error = (r.structuredContent as { error?: { name?: unknown; message?: unknown } } | undefined)?.error;
  const detail = error ? `: ${String(error.name)}: ${String(error.message)}` : '';
  return `${headline}${detail}`.slice(0, 500);
}

interface Entry {
  task: Task;
  /**
   * false for a plain call the SDK routes through its task machinery (taskSupport 'optional'): it runs on its own
   * request, is never listed, and is forgotten once its answer is read
   */
  augmented: boolean;
  /** stops the execution: tasks/cancel, like a cancelled request */
  readonly stop: AbortController;
  result?: Result;
  settled: Promise<void>;
  settle: () => void;
  timer?: NodeJS.Timeout;
}

/** One tenant's tasks, whichever of its sessions made them (the tenant is the authorization context). */
export interface TaskRegistry extends TaskStore {
  /** Whether this task was asked for (a task-augmented call), rather than a plain call routed through tasks. */
  isAugmented(taskId: string): boolean;
  /** Fires when the task is cancelled (tasks/cancel): the execution stops with it. */
  stopSignal(taskId: string): AbortSignal;
}

export interface TaskRegistryOptions {
  /** the policy's limits.taskTtlMs: the longest a task is kept, and what it gets when it asks for none */
  ttlMs: number;
  maxKept?: number;
}

/**
 * The SDK's TaskStore for run_deno_code, in memory, per tenant: tasks/get, tasks/result, tasks/list and tasks/cancel
 * see this tenant's tasks only, from any of its sessions, so a task outlives the connection that made it. The SDK
 * passes the session id along; it is not the authorization context, and is ignored. A task is kept for its ttl
 * from creation and at least its ttl after it finished.
 */
export function createTaskRegistry(opts: TaskRegistryOptions): TaskRegistry {
  const maxKept = opts.maxKept ?? MAX_KEPT;
  const entries = new Map<string, Entry>();
  const now = () => new Date().toISOString();

  const find = (taskId: string): Entry => {
    const e = entries.get(taskId);
    if (!e) throw new Error(`Task not found: ${taskId}`);
    return e;
  };
  const visible = (taskId: string) => {
    const e = entries.get(taskId);
    return e?.augmented ? e : undefined;
  };
  const expireLater = (taskId: string, e: Entry) => {
    clearTimeout(e.timer);
    e.timer = setTimeout(() => {
      // A task still running is kept; it is timed again when it finishes.
      if (isTerminal(e.task.status)) entries.delete(taskId);
    }, e.task.ttl ?? opts.ttlMs);
    e.timer.unref();
  };
  const makeRoom = () => {
    const kept = [...entries.entries()].filter(([, e]) => e.augmented);
    if (kept.length < maxKept) return;
    const oldest = kept.find(([, e]) => isTerminal(e.task.status));
    if (!oldest) throw new Error(`Too many tasks in progress (${maxKept}); wait for some to finish`);
    clearTimeout(oldest[1].timer);
    entries.delete(oldest[0]);
  };
  const touch = (e: Entry, status: Task['status'], statusMessage?: string) => {
    e.task.status = status;
    if (statusMessage) e.task.statusMessage = statusMessage;
    e.task.lastUpdatedAt = now();
  };

  return {
    createTask: (params: CreateTaskOptions, _requestId: RequestId, request: Request) =>
      attempt(() => {
        const augmented = (request.params as { task?: unknown } | undefined)?.task !== undefined;
        if (augmented) makeRoom();
        const createdAt = now();
        const task: Task = {
          taskId: randomUUID(),
          status: 'working',
          ttl: Math.max(MIN_TTL_MS, Math.min(params.ttl ?? opts.ttlMs, opts.ttlMs)),
          createdAt,
          lastUpdatedAt: createdAt,
          pollInterval: POLL_INTERVAL_MS,
        };
        let settle!: () => void;
        const settled = new Promise<void>((resolve) => (settle = resolve));
        const e: Entry = { task, augmented, stop: new AbortController(), settled, settle };
        entries.set(task.taskId, e);
        expireLater(task.taskId, e);
        return { ...task };
      }),
    getTask: (taskId) =>
      attempt(() => {
        const e = visible(taskId);
        return e ? { ...e.task } : null;
      }),
    storeTaskResult: (taskId, status, result) =>
      attempt(() => {
        const e = find(taskId);
        e.result ??= result;
        // A cancelled task stays cancelled (spec), but keeps what the stopped run answered.
        if (e.task.status !== 'cancelled')
          touch(e, status, status === 'failed' ? failureText(result) : undefined);
        e.settle();
        expireLater(taskId, e);
      }),
    async getTaskResult(taskId) {
      const e = find(taskId);
      // Terminal by now (the SDK asks only then): a cancelled run's answer is on its way.
      await e.settled;
      if (!e.augmented) {
        clearTimeout(e.timer);
        entries.delete(taskId);
      }
      return e.result!;
    },
    updateTaskStatus: (taskId, status, statusMessage) =>
      attempt(() => {
        const e = find(taskId);
        if (isTerminal(e.task.status))
          throw new Error(`Cannot update task ${taskId}: it is already ${e.task.status}`);
        touch(e, status, statusMessage);
        if (status === 'cancelled') e.stop.abort(new CancelledError('The task was cancelled.'));
        if (isTerminal(status)) expireLater(taskId, e);
      }),
    listTasks: (cursor) =>
      attempt(() => {
        const ids = [...entries.keys()].filter((id) => visible(id));
        let start = 0;
        if (cursor !== undefined) {
          const at = ids.indexOf(cursor);
          if (at < 0) throw new Error('Invalid cursor');
          start = at + 1;
        }
        const page = ids.slice(start, start + PAGE_SIZE);
        const more = start + PAGE_SIZE < ids.length;
        return {
          tasks: page.map((id) => ({ ...entries.get(id)!.task })),
          ...(more ? { nextCursor: page.at(-1) } : {}),
        };
      }),
    isAugmented: (taskId) => entries.get(taskId)?.augmented === true,
    stopSignal: (taskId) => find(taskId).stop.signal,
  };
}

/** Runs the call with the given stop signal; `taskId` says it runs as that task (notifications relate to it). */
export type RunCall = (signal: AbortSignal, taskId: string | undefined) => Promise<CallToolResult>;

/**
 * `createTask` of a tool with taskSupport 'optional'. A task-augmented call gets its task at once and runs in the
 * background until its result is stored (or tasks/cancel stops it). A plain call comes here too (the SDK sends
 * every call of such a tool through its task machinery): it runs on its own request, with that request's signal
 * and notifications, and its hidden task is done before the SDK looks, so it answers without any polling.
 */
export async function createRunTask(
  registry: TaskRegistry,
  extra: CreateTaskRequestHandlerExtra,
  run: RunCall,
  onStoreFailed: (error: unknown) => void,
): Promise<CreateTaskResult> {
  const task = await extra.taskStore.createTask({ ttl: extra.taskRequestedTtl });
  if (!registry.isAugmented(task.taskId)) {
    const result = await run(extra.signal, undefined);
    await registry.storeTaskResult(task.taskId, 'completed', result);
    return { task: { ...task, status: 'completed' } };
  }
  void run(registry.stopSignal(task.taskId), task.taskId)
    // Through the SDK's request store, which also notifies the session of the new status (when it is still open).
    .then((result) =>
      extra.taskStore.storeTaskResult(task.taskId, result.isError ? 'failed' : 'completed', result),
    )
    .catch(onStoreFailed);
  return { task };
}

import { Worker } from 'node:worker_threads';
import type { WrapResult } from './wrap.js';

/** Runs wrapUserCode on worker threads. */
export interface WrapPool {
  wrap(code: string): Promise<WrapResult>;
  /** Stops the workers; programs still waiting or being parsed are refused. Idempotent. */
  close(): Promise<void>;
}

interface Task {
  id: number;
  code: string;
  resolve: (r: WrapResult) => void;
  reject: (e: Error) => void;
}

/**
 * Parsing takes about a second of CPU per megabyte of code: on the event loop, one tenant's large programs stalled
 * every other tenant's executions (and the HTTP server) for as long. Here it runs on `size` worker threads, started
 * at once (loading the parser takes a worker about a second on a busy machine: not something to do while a caller
 * waits) and kept; programs beyond that wait in order. The queue needs no bound of its own: callers parse only once
 * admitted by the concurrency limiter. A worker that dies fails its program and is replaced on the next one.
 * Workers never keep the process alive.
 */
export function createWrapPool(
  size: number,
  workerUrl = new URL('./wrap-worker.js', import.meta.url),
): WrapPool {
  const idle: Worker[] = [];
  const busy = new Map<Worker, Task>();
  const queue: Task[] = [];
  let started = 0;
  let nextId = 1;
  let closed = false;

  const spawn = (): Worker => {
    const worker = new Worker(workerUrl);
    worker.unref();
    started++;
    worker.on('message', (m: { id: number; result: WrapResult }) => {
      const task = busy.get(worker);
      if (!task || task.id !== m.id) return;
      busy.delete(worker);
      task.resolve(m.result);
      idle.push(worker);
      pump();
    });
    let dead = false;
    // 'error' is followed by 'exit': count the worker out once.
    const gone = (error: Error) => {
      if (dead) return;
      dead = true;
      const task = busy.get(worker);
      busy.delete(worker);
      const i = idle.indexOf(worker);
      if (i >= 0) idle.splice(i, 1);
      started--;
      task?.reject(error);
      pump();
    };
    worker.on('error', gone);
    worker.on('exit', (code) => gone(new Error(`the code parser thread exited (code ${code})`)));
    return worker;
  };

  const pump = () => {
    while (!closed && queue.length > 0) {
      const worker = idle.pop() ?? (started < size ? spawn() : undefined);
      if (!worker) return;
      const task = queue.shift()!;
      busy.set(worker, task);
      worker.postMessage({ id: task.id, code: task.code });
    }
  };

  for (let i = 0; i < size; i++) idle.push(spawn());

  return {
    wrap(code) {
      if (closed) return Promise.reject(new Error('the code parser is closed'));
      return new Promise<WrapResult>((resolve, reject) => {
        queue.push({ id: nextId++, code, resolve, reject });
        pump();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const task of queue.splice(0)) task.reject(new Error('the code parser is closed'));
      await Promise.all([...idle, ...busy.keys()].map((w) => w.terminate()));
    },
  };
}

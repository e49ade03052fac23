import { OverloadedError } from '../core/index.js';

/** A counting semaphore with a bounded queue: excess work waits up to `maxQueued`, then is refused. */
export interface Limiter {
  /** Runs `fn` once a place is free. A `signal` that fires while the call waits takes it out of the queue. */
  run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  readonly active: number;
  readonly queued: number;
}

export function createLimiter(maxActive: number, maxQueued: number, what = 'executions'): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    active--;
    const next = waiting.shift();
    if (next) {
      active++;
      next();
    }
  };
  const wait = (signal: AbortSignal | undefined) =>
    new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const i = waiting.indexOf(wake);
        if (i >= 0) waiting.splice(i, 1);
        reject(signal!.reason as Error);
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      waiting.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  return {
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    async run(fn, signal) {
      if (signal?.aborted) throw signal.reason as Error;
      if (active >= maxActive) {
        if (waiting.length >= maxQueued) {
          throw new OverloadedError(
            `Too many ${what}: ${maxActive} running and ${maxQueued} queued. Try again shortly.`,
          );
        }
        await wait(signal);
      } else {
        active++;
      }
      try {
        return await fn();
      } finally {
        release();
      }
    },
  };
}

/** Runs through `inner` (e.g. a tenant's cap) and then `outer` (the global cap). */
export function nestLimiters(inner: Limiter, outer: Limiter): Limiter {
  return {
    get active() {
      return inner.active;
    },
    get queued() {
      return inner.queued;
    },
    run: (fn, signal) => inner.run(() => outer.run(fn, signal), signal),
  };
}

/** One container's claim on the budget, held from before its creation until its removal has finished. */
export interface ContainerLease {
  /** Idempotent. */
  release(): void;
}

/**
 * Bounds how many containers exist at once (starting, idle, running or being removed), across every tenant and
 * profile. Executions wait for room; the warm pool only takes room that nobody is waiting for, so it always yields.
 */
export interface ContainerBudget {
  readonly used: number;
  readonly waiting: number;
  /** Waits for room (first come, first served); a `signal` that fires while it waits takes it out of the line. */
  acquire(signal?: AbortSignal): Promise<ContainerLease>;
  /** Room now and no one waiting, or undefined. */
  tryAcquire(): ContainerLease | undefined;
  /**
   * `onWait` runs each time an acquire has to wait (the pool then gives up an idle container); `onRoom` runs when
   * room frees up that no waiter takes (the pool then refills).
   */
  listen(hooks: { onWait?: () => void; onRoom?: () => void }): void;
}

export function createContainerBudget(capacity: number): ContainerBudget {
  let used = 0;
  const waiting: ((lease: ContainerLease) => void)[] = [];
  let hooks: { onWait?: () => void; onRoom?: () => void } = {};
  const lease = (): ContainerLease => {
    let held = true;
    return {
      release() {
        if (!held) return;
        held = false;
        const next = waiting.shift();
        if (next) next(lease());
        else {
          used--;
          hooks.onRoom?.();
        }
      },
    };
  };
  return {
    get used() {
      return used;
    },
    get waiting() {
      return waiting.length;
    },
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(signal.reason as Error);
      if (used < capacity && waiting.length === 0) {
        used++;
        return Promise.resolve(lease());
      }
      const p = new Promise<ContainerLease>((resolve, reject) => {
        const onAbort = () => {
          const i = waiting.indexOf(take);
          if (i >= 0) waiting.splice(i, 1);
          reject(signal!.reason as Error);
        };
        const take = (l: ContainerLease) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(l);
        };
        waiting.push(take);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
      hooks.onWait?.();
      return p;
    },
    tryAcquire() {
      if (used >= capacity || waiting.length > 0) return undefined;
      used++;
      return lease();
    },
    listen(h) {
      hooks = h;
    },
  };
}

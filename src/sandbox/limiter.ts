import { OverloadedError } from '../core/index.js';

/** A counting semaphore with a bounded queue: excess work waits up to `maxQueued`, then is refused. */
export interface Limiter {
  run<T>(fn: () => Promise<T>): Promise<T>;
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
  return {
    get active() {
      return active;
    },
    get queued() {
      return waiting.length;
    },
    async run(fn) {
      if (active >= maxActive) {
        if (waiting.length >= maxQueued) {
          throw new OverloadedError(
            `Too many ${what}: ${maxActive} running and ${maxQueued} queued. Try again shortly.`,
          );
        }
        await new Promise<void>((resolve) => waiting.push(resolve));
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
    run: (fn) => inner.run(() => outer.run(fn)),
  };
}

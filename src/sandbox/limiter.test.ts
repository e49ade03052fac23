import { describe, expect, it } from 'vitest';
import { OverloadedError } from '../core/index.js';
import { createContainerBudget, createLimiter } from './limiter.js';

describe('limiter', () => {
  it('runs at most maxActive at once, queues up to maxQueued, refuses the rest', async () => {
    const limiter = createLimiter(2, 1);
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const task = () =>
      limiter.run(async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
      });
    const a = task();
    const b = task();
    const c = task();
    await expect(task()).rejects.toBeInstanceOf(OverloadedError);
    expect(limiter.active).toBe(2);
    expect(limiter.queued).toBe(1);
    while (release.length) {
      release.shift()!();
      await new Promise((r) => setTimeout(r, 0));
    }
    await Promise.all([a, b, c]);
    expect(peak).toBe(2);
    expect(limiter.active).toBe(0);
  });
});

describe('container budget', () => {
  it('lets waiters go first, tells the pool when to give up idle room and when room is free', async () => {
    const budget = createContainerBudget(2);
    let waits = 0;
    let rooms = 0;
    budget.listen({ onWait: () => waits++, onRoom: () => rooms++ });
    const a = budget.tryAcquire();
    const b = await budget.acquire();
    expect(a).toBeDefined();
    expect(budget.tryAcquire()).toBeUndefined();
    const c = budget.acquire();
    expect(waits).toBe(1);
    expect(budget.waiting).toBe(1);
    a!.release();
    a!.release(); // idempotent: must not free a second place
    const leaseC = await c;
    expect(budget.used).toBe(2);
    expect(rooms).toBe(0); // the room went to the waiter, not to the pool
    expect(budget.tryAcquire()).toBeUndefined();
    b.release();
    leaseC.release();
    expect(budget.used).toBe(0);
    expect(rooms).toBe(2);
  });

  it('takes a waiter out of the line when its signal fires: the room goes to the next one', async () => {
    const budget = createContainerBudget(1);
    const held = await budget.acquire();
    const stop = new AbortController();
    const gone = budget.acquire(stop.signal);
    const next = budget.acquire();
    stop.abort(new Error('no longer needed'));
    await expect(gone).rejects.toThrow('no longer needed');
    expect(budget.waiting).toBe(1);
    held.release();
    (await next).release();
    expect(budget.used).toBe(0);
    await expect(budget.acquire(stop.signal)).rejects.toThrow('no longer needed');
  });
});

describe('limiter signals', () => {
  it('takes a waiting call out of the queue when its signal fires, and never runs it', async () => {
    const limiter = createLimiter(1, 4);
    let release!: () => void;
    const first = limiter.run(() => new Promise<void>((r) => (release = r)));
    const stop = new AbortController();
    let ran = false;
    const second = limiter.run(() => {
      ran = true;
      return Promise.resolve();
    }, stop.signal);
    expect(limiter.queued).toBe(1);
    stop.abort(new Error('cancelled while queued'));
    await expect(second).rejects.toThrow('cancelled while queued');
    expect(limiter.queued).toBe(0);
    release();
    await first;
    expect(ran).toBe(false);
    expect(limiter.active).toBe(0);
  });
});

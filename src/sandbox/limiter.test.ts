import { describe, expect, it } from 'vitest';
import { OverloadedError } from '../core/index.js';
import { createLimiter } from './limiter.js';

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

import { afterEach, describe, expect, it, vi } from 'vitest';
import { createRateWindow } from './rate-window.js';

describe('rate window', () => {
  it('lets `limit` through in a minute, refuses the next naming the limit and when it frees', () => {
    let now = 1_000_000;
    const w = createRateWindow({ limit: 3, what: 'executions for tenant acme', clock: () => now });
    expect([w.take(), w.take()]).toEqual([undefined, undefined]);
    now += 10_000;
    expect(w.take()).toBeUndefined();
    now += 5_000;
    const refusal = w.take();
    expect(refusal).toEqual({
      retryAfterMs: 45_000,
      message:
        'Too many executions for tenant acme: the limit is 3 per minute. The next one is possible in 45 s.',
    });
    // A refusal is not counted: once the first two have left the window, two places are free again.
    now += 45_000;
    expect([w.take(), w.take(), w.take()]).toEqual([undefined, undefined, expect.anything()]);
    // The third is still inside the window until 60 s after it.
    expect(w.take()?.retryAfterMs).toBe(10_000);
    now += 10_000;
    expect(w.take()).toBeUndefined();
  });

  it('counts in one-second steps: a call late in a second is forgotten with that second', () => {
    let now = 5_900;
    const w = createRateWindow({ limit: 1, what: 'calls', clock: () => now });
    expect(w.take()).toBeUndefined();
    now = 64_999;
    expect(w.take()?.retryAfterMs).toBe(1);
    now = 65_000;
    expect(w.take()).toBeUndefined();
  });

  it('keeps constant memory under a large limit and a long quiet spell', () => {
    let now = 0;
    const w = createRateWindow({ limit: 100_000, what: 'calls', clock: () => now });
    let through = 0;
    for (let i = 0; i < 100_000; i++) {
      now = Math.floor(i / 2);
      if (w.take() === undefined) through++;
    }
    expect(through).toBe(100_000);
    expect(w.take()?.message).toMatch(/limit is 100000 per minute/);
    now += 10 * 60_000;
    expect(w.take()).toBeUndefined();
  });
});

describe('rate window on its default clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is not fooled by the wall clock stepping back an hour: the refusal frees within the minute', () => {
    vi.useFakeTimers({ toFake: ['Date'], now: new Date('2026-12-02T12:00:00Z') });
    const w = createRateWindow({ limit: 2, what: 'executions' });
    expect([w.take(), w.take()]).toEqual([undefined, undefined]);
    vi.setSystemTime(new Date('2026-12-02T11:00:00Z'));
    const refusal = w.take();
    expect(refusal?.retryAfterMs).toBeGreaterThan(0);
    expect(refusal?.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(refusal?.message).toMatch(/The next one is possible in ([1-5]?\d|60) s\.$/);
  });
});

import { describe, expect, inject, it } from 'vitest';
import { runLoad } from '../scripts/bench/load-http.mjs';
import { expectNoLeftovers } from './helpers.js';

const docker = inject('docker');

describe.skipIf(!docker)('serve under load', () => {
  it('runs 200 executions at concurrency 8 with no failure, nothing left behind and flat memory', async () => {
    const r = await runLoad({ total: 200, concurrency: 8 });
    expect(r.failures).toBe(0);
    expect(r.exitCode).toBe(0);
    expect(r.leakedContainers).toBe(0);
    // Flat: the last three quarters of the run may not grow the server by more than a quarter.
    expect(r.rssEndMb).toBeLessThan(r.rssAfterWarmupMb * 1.25);
    await expectNoLeftovers();
  }, 600_000);
});

import { afterEach, describe, expect, it } from 'vitest';
import { createWrapPool, type WrapPool } from './wrap-pool.js';

/**
 * The pool's bookkeeping with real worker threads running a stand-in parser (the real worker is compiled code, and
 * these tests run from sources): it answers `ok` with the code as the module, and exits on the code `die`.
 */
const STAND_IN = new URL(
  `data:text/javascript,${encodeURIComponent(`
import { parentPort } from 'node:worker_threads';
parentPort.on('message', ({ id, code }) => {
  if (code === 'die') process.exit(3);
  setTimeout(() => parentPort.postMessage({ id, result: { ok: true, module: code, segments: [] } }), 20);
});`)}`,
);

describe('wrap pool', () => {
  let pool: WrapPool;
  afterEach(async () => {
    await pool.close();
  });

  it('answers every program in order of arrival, more programs than threads included', async () => {
    pool = createWrapPool(2, STAND_IN);
    const codes = Array.from({ length: 7 }, (_, i) => `p${i}`);
    const results = await Promise.all(codes.map((c) => pool.wrap(c)));
    expect(results.map((r) => (r.ok ? r.module : 'failed'))).toEqual(codes);
  });

  it('fails the program of a thread that dies and goes on with a new thread', async () => {
    pool = createWrapPool(1, STAND_IN);
    const dead = pool.wrap('die');
    const next = pool.wrap('after');
    await expect(dead).rejects.toThrow('the code parser thread exited (code 3)');
    expect(await next).toMatchObject({ ok: true, module: 'after' });
  });

  it('refuses what still waits, and anything new, once closed', async () => {
    pool = createWrapPool(1, STAND_IN);
    const running = pool.wrap('a').catch((e: Error) => e.message);
    const waiting = pool.wrap('b').catch((e: Error) => e.message);
    await pool.close();
    expect(await waiting).toBe('the code parser is closed');
    await expect(pool.wrap('c')).rejects.toThrow('the code parser is closed');
    expect(await running).toMatch(/the code parser (thread exited|is closed)/);
  });
});

import { describe, expect, it } from 'vitest';
import { PolicySchema } from '../config/policy.js';
import {
  CancelledError,
  createEventStream,
  DockerUnavailableError,
  createRateWindow,
  OverloadedError,
  RateLimitError,
  type ExecutionEvent,
  type RateWindow,
} from '../core/index.js';
import type { DockerPort } from '../docker/index.js';
import { createSilentLogger } from '../obs/index.js';
import { EMPTY_DIRECTORY } from '../proxy/index.js';
import { wrapUserCode } from '../wrap/index.js';
import { createExecutor } from './executor.js';
import { createLimiter } from './limiter.js';
import type { PreparedSandbox } from './prepared.js';

/**
 * The executor's bookkeeping without an engine: a sandbox source whose takes wait until the test fails them, so
 * every call that gets its place is stuck "getting a container" until then.
 */
function setup(maxActive = 1, maxQueued = 8, executionRate?: RateWindow) {
  const takes: ((error: Error) => void)[] = [];
  const parsed: string[] = [];
  /** signals the executor handed to the source with each take */
  const takeSignals: (AbortSignal | undefined)[] = [];
  const admission = new AbortController();
  const termination = new AbortController();
  const bus = createEventStream<ExecutionEvent>();
  const events: ExecutionEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const executor = createExecutor({
    docker: {} as DockerPort, // never reached: no take succeeds
    logger: createSilentLogger(),
    source: {
      // Like the real sources: a take whose signal fires gives up (and would undo the container it was making).
      acquire: (_profile, signal) =>
        new Promise<PreparedSandbox>((_, reject) => {
          takes.push(reject);
          takeSignals.push(signal);
          signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        }),
    },
    limiter: createLimiter(maxActive, maxQueued),
    executionRate,
    profile: {
      image: 'x',
      policy: PolicySchema.parse({}),
      permissions: {},
      tenant: 't1',
      workspaceDir: undefined,
    },
    directory: EMPTY_DIRECTORY,
    bus,
    admission: admission.signal,
    termination: termination.signal,
    // Parsed in this process: these run from sources, and the conductor's parser threads need compiled code.
    wrap: (code) => (parsed.push(code), Promise.resolve(wrapUserCode(code))),
  });
  const finished = () =>
    events.flatMap((e) => (e.type === 'finished' ? [[e.status, e.error?.code ?? null] as const] : []));
  const tick = () => new Promise((r) => setTimeout(r, 0));
  return { executor, takes, takeSignals, parsed, admission, termination, events, finished, tick };
}

describe('executor', () => {
  it('refuses code over the size limit without a place, and code that does not parse once admitted', async () => {
    const { executor, events, parsed } = setup();
    const big = await executor.execute({ code: 'x'.repeat(2 * 1024 * 1024) });
    expect(big.result.error?.name).toBe('CodeTooLargeError');
    const bad = await executor.execute({ code: 'let = ;' });
    expect(bad.result.error?.name).toBe('SyntaxError');
    expect(bad.result.error?.message).toMatch(/\(code\.ts:1:\d+\)$/);
    expect(bad.executionId).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(['queued', 'finished', 'queued', 'admitted', 'finished']);
    expect(parsed).toEqual(['let = ;']);
  });

  it('parses nothing before admission: calls over the queue are refused unparsed', async () => {
    const { executor, takes, parsed, finished, tick } = setup(1, 1);
    const running = executor.execute({ code: '"running"' }).catch((e: unknown) => e);
    await tick();
    const queued = executor.execute({ code: '"queued"' }).catch((e: unknown) => e);
    const refused = await Promise.all(
      [1, 2, 3].map((i) => executor.execute({ code: `"over ${i}"` }).catch((e: unknown) => e)),
    );
    for (const r of refused) expect(r).toBeInstanceOf(OverloadedError);
    expect(parsed).toEqual(['"running"']);
    takes.shift()!(new DockerUnavailableError('Docker is down'));
    await running;
    await tick();
    expect(parsed).toEqual(['"running"', '"queued"']);
    takes.shift()!(new DockerUnavailableError('Docker is down'));
    await queued;
    expect(finished().map(([status]) => status)).toEqual([
      'rejected',
      'rejected',
      'rejected',
      'failed',
      'failed',
    ]);
  });

  it('refuses a call over the rate before looking at its code: rejected, no place, the limit named', async () => {
    const rate = createRateWindow({ limit: 2, what: 'executions for tenant t1' });
    const { executor, events, finished, parsed } = setup(1, 8, rate);
    await executor.execute({ code: 'let = ;' });
    await executor.execute({ code: 'x'.repeat(2 * 1024 * 1024) });
    const refused = await executor.execute({ code: 'let = 1;' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(RateLimitError);
    expect((refused as Error).message).toMatch(
      /^Too many executions for tenant t1: the limit is 2 per minute\. The next one is possible in \d+ s\.$/,
    );
    expect(finished()).toEqual([
      ['error', null],
      ['error', null],
      ['rejected', 'rate_limited'],
    ]);
    const third = events.filter((e) => e.type === 'queued')[2]!.callId;
    expect(events.filter((e) => e.callId === third).map((e) => e.type)).toEqual(['queued', 'finished']);
    expect(parsed).toEqual(['let = ;']);
  });

  it('on shutdown refuses a waiting call at once and never admits it; the running one goes on', async () => {
    const { executor, takes, admission, events, finished, tick } = setup();
    const running = executor.execute({ code: '1' }).catch((e: unknown) => e);
    await tick();
    const waiting = executor.execute({ code: '2' }).catch((e: unknown) => e);
    await tick();
    admission.abort(new OverloadedError('shutting down'));
    expect(await waiting).toBeInstanceOf(OverloadedError);
    expect(String(await executor.execute({ code: '3' }).catch((e: unknown) => e))).toContain('shutting down');
    // The running call is still getting its container; it fails (not refused) when the engine does.
    takes.shift()!(new DockerUnavailableError('Docker is down'));
    expect(await running).toBeInstanceOf(DockerUnavailableError);
    expect(events.filter((e) => e.type === 'admitted')).toHaveLength(1);
    expect(finished()).toEqual([
      ['rejected', 'overloaded'],
      ['rejected', 'overloaded'],
      ['failed', 'docker_unavailable'],
    ]);
  });

  it("a caller's signal takes a queued call out of the queue: cancelled, never admitted", async () => {
    const { executor, takes, events, finished, tick } = setup();
    const first = executor.execute({ code: '1' }).catch((e: unknown) => e);
    await tick();
    const stop = new AbortController();
    const queued = executor.execute({ code: '2' }, { signal: stop.signal }).catch((e: unknown) => e);
    await tick();
    stop.abort('the client cancelled');
    expect(await queued).toBeInstanceOf(CancelledError);
    expect(executor.active).toBe(1);
    takes.shift()!(new DockerUnavailableError('Docker is down'));
    await first;
    expect(events.filter((e) => e.type === 'admitted')).toHaveLength(1);
    expect(finished()).toEqual([
      ['cancelled', 'cancelled'],
      ['failed', 'docker_unavailable'],
    ]);
  });

  it('a signal that fires while the container is being made gives the take up: cancelled, place freed', async () => {
    const { executor, takeSignals, events, finished, tick } = setup();
    const stop = new AbortController();
    const call = executor.execute({ code: '1' }, { signal: stop.signal }).catch((e: unknown) => e);
    await tick();
    expect(executor.active).toBe(1);
    stop.abort('the client cancelled');
    expect(takeSignals[0]?.aborted).toBe(true);
    expect(await call).toBeInstanceOf(CancelledError);
    expect(executor.active).toBe(0);
    await executor.drain();
    expect(events.filter((e) => e.type === 'admitted')).toHaveLength(1);
    expect(finished()).toEqual([['cancelled', 'cancelled']]);
  });

  it("the conductor's final stop reaches a take in progress, and drain waits for the call to end", async () => {
    const { executor, termination, finished, tick } = setup();
    const call = executor.execute({ code: '1' }).catch((e: unknown) => e);
    await tick();
    let drained = false;
    const drain = executor.drain().then(() => (drained = true));
    await tick();
    expect(drained).toBe(false);
    termination.abort(new Error('the conductor is shutting down'));
    expect(String(await call)).toContain('shutting down');
    await drain;
    expect(finished()).toEqual([['rejected', 'overloaded']]);
  });

  it("sends each call's events to its own stream as well as to the bus", async () => {
    const { executor, takes, tick } = setup();
    const own = createEventStream<ExecutionEvent>();
    const mine: string[] = [];
    own.subscribe((e) => mine.push(e.type));
    const done = executor.execute({ code: '1' }, { events: own }).catch((e: unknown) => e);
    await tick();
    takes.shift()!(new DockerUnavailableError('Docker is down'));
    await done;
    expect(mine).toEqual(['queued', 'admitted', 'finished']);
  });
});

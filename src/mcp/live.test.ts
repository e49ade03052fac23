import type { LoggingLevel, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ExecutionEvent } from '../core/index.js';
import { followCall, type LiveRunOptions } from './live.js';

const ids = { callId: 'c1', tenant: 't' };
const exec = { ...ids, executionId: 'e1' };
const LEVELS: LoggingLevel[] = ['debug', 'info', 'notice', 'warning', 'error'];

function follow(over: Partial<LiveRunOptions> = {}, minLevel: LoggingLevel = 'debug') {
  const sent: ServerNotification[] = [];
  const live = followCall({
    notify: (n) => (sent.push(n), Promise.resolve()),
    logs: (level) => LEVELS.indexOf(level) >= LEVELS.indexOf(minLevel),
    maxStreamedLines: 1000,
    ...over,
  });
  const emit = (...events: ExecutionEvent[]) => events.forEach((e) => live.events.emit(e));
  const progress = () => sent.flatMap((n) => (n.method === 'notifications/progress' ? [n.params] : []));
  const messages = () => sent.flatMap((n) => (n.method === 'notifications/message' ? [n.params] : []));
  /** Every notification so far has been handed to `notify` (they go one at a time). */
  const settle = () => live.stop();
  return { live, emit, progress, messages, settle };
}

const queued: ExecutionEvent = { type: 'queued', ...ids, codeSha256: 'x', codeBytes: 1, timeoutMs: 1000 };
const finished: ExecutionEvent = { type: 'finished', ...ids, status: 'success', durationMs: 5 };
const out = (stream: 'stdout' | 'stderr', text: string): ExecutionEvent => ({
  type: 'output',
  ...exec,
  stream,
  text,
});

afterEach(() => vi.useRealTimers());

describe('progress of a call with a progress token', () => {
  it('says queued, starting, running, then beats every second and carries the code’s reports', async () => {
    vi.useFakeTimers();
    const { emit, progress, settle } = follow({ progressToken: 'tok' });
    emit(queued, { type: 'admitted', ...ids }, { type: 'started', ...exec, source: 'pool' });
    vi.advanceTimersByTime(2100);
    emit({ type: 'progress', ...exec, progress: 3, total: 10, message: 'files\x1b[2J' });
    vi.advanceTimersByTime(1000);
    emit(finished);
    vi.advanceTimersByTime(5000);
    await settle();
    const p = progress();
    expect(p.map((x) => x.message)).toEqual([
      'queued',
      'starting',
      'running 0.0 s',
      'running 1.0 s',
      'running 2.0 s',
      'running 2.1 s: 3/10 files\\u001b[2J',
      'running 3.0 s: 3/10 files\\u001b[2J',
    ]);
    expect(p.map((x) => x.progress)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(p.every((x) => x.progressToken === 'tok' && x.total === undefined)).toBe(true);
  });

  it('sends no progress without a token', async () => {
    const { emit, progress, settle } = follow();
    emit(queued, { type: 'started', ...exec, source: 'cold' }, finished);
    await settle();
    expect(progress()).toEqual([]);
  });
});

describe('streamed output', () => {
  it('sends each line as it completes, stdout at info and stderr at warning, the rest at the end', async () => {
    const { emit, messages, settle } = follow();
    emit(out('stdout', 'one\ntw'), out('stderr', 'oops\n'), out('stdout', 'o\nthree'), finished);
    await settle();
    expect(messages()).toEqual([
      { level: 'info', logger: 'run_deno_code', data: { executionId: 'e1', stream: 'stdout', line: 'one' } },
      {
        level: 'warning',
        logger: 'run_deno_code',
        data: { executionId: 'e1', stream: 'stderr', line: 'oops' },
      },
      { level: 'info', logger: 'run_deno_code', data: { executionId: 'e1', stream: 'stdout', line: 'two' } },
      {
        level: 'info',
        logger: 'run_deno_code',
        data: { executionId: 'e1', stream: 'stdout', line: 'three' },
      },
    ]);
  });

  it('honours the session level: warning keeps stderr only, error keeps nothing', async () => {
    const warn = follow({}, 'warning');
    warn.emit(out('stdout', 'a\n'), out('stderr', 'b\n'), finished);
    await warn.settle();
    expect(warn.messages().map((m) => m.data)).toEqual([{ executionId: 'e1', stream: 'stderr', line: 'b' }]);
    const none = follow({}, 'error');
    none.emit(out('stdout', 'a\n'), out('stderr', 'b\n'), finished);
    await none.settle();
    expect(none.messages()).toEqual([]);
  });

  it('stops at maxStreamedLines with one notice, and escapes control characters', async () => {
    const { emit, messages, settle } = follow({ maxStreamedLines: 2 });
    emit(out('stdout', 'a\x07\nb\nc\nd\n'), out('stderr', 'e\n'), finished);
    await settle();
    const m = messages();
    expect(m.map((x) => (x.data as { line?: string }).line)).toEqual(['a\\u0007', 'b', undefined]);
    expect(m[2]).toMatchObject({ level: 'warning', data: { executionId: 'e1' } });
    expect((m[2]!.data as { notice: string }).notice).toContain('2 lines were streamed');
  });
});

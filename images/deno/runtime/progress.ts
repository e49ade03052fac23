/**
 * The `progress()` global (typed by progress.d.ts): the code's own progress, sent to the conductor as `progress`
 * frames. Reports are coalesced to one frame per PROGRESS_MIN_INTERVAL_MS, the latest values winning, so code that
 * calls it in a loop never floods the socket; the host validates and rate-caps whatever arrives anyway.
 */
import type { ProgressFunction } from './progress.d.ts';
import { P } from './primordials.ts';
import { MAX_PROGRESS_MESSAGE_CHARS, PROGRESS_MIN_INTERVAL_MS } from './protocol.ts';

type Report = { t: 'progress'; progress: number; total?: number; message?: string };

function report(value: unknown, total: unknown, message: unknown): Report {
  if (typeof value !== 'number' || !P.NumberIsFinite(value)) {
    throw new P.TypeErrorCtor('progress: value must be a finite number');
  }
  const r: Report = { t: 'progress', progress: value };
  if (total !== undefined) {
    if (typeof total !== 'number' || !P.NumberIsFinite(total) || !(total > 0)) {
      throw new P.TypeErrorCtor('progress: total must be a positive finite number');
    }
    r.total = total;
  }
  if (message !== undefined) {
    if (typeof message !== 'string') throw new P.TypeErrorCtor('progress: message must be a string');
    r.message = P.StringPrototypeSlice(message, 0, MAX_PROGRESS_MESSAGE_CHARS);
  }
  return r;
}

/** `send` writes one frame and never rejects (FrameWriter.send). */
export function createProgress(send: (message: unknown) => Promise<boolean>): ProgressFunction {
  let lastSentAt = -PROGRESS_MIN_INTERVAL_MS;
  let pending: Report | undefined;
  let timer: ReturnType<typeof P.setTimeout> | undefined;
  const flush = () => {
    timer = undefined;
    if (pending === undefined) return;
    const r = pending;
    pending = undefined;
    lastSentAt = P.DateNow();
    void send(r);
  };
  return (value, total, message) => {
    pending = report(value, total, message);
    if (timer !== undefined) return;
    const wait = lastSentAt + PROGRESS_MIN_INTERVAL_MS - P.DateNow();
    if (wait <= 0) return flush();
    const t = P.setTimeout(flush, wait);
    // A report still waiting must not keep a finished run alive.
    P.unrefTimer(t);
    timer = t;
  };
}

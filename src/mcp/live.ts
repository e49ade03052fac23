import type { LoggingLevel, ProgressToken, ServerNotification } from '@modelcontextprotocol/sdk/types.js';
import { createEventStream, type EventStream, type ExecutionEvent } from '../core/index.js';
import { escapeControlChars } from './format.js';
import { createLineSplitter, type LineSplitter } from './lines.js';

/** How often a running call with a progress token hears from the conductor (DESIGN: at least every 2 s). */
const HEARTBEAT_MS = 1000;
/** A longer line is streamed in pieces of this size (the result keeps it whole). */
const MAX_LINE_CHARS = 8192;
const LOGGER_NAME = 'run_deno_code';

export interface LiveRunOptions {
  /** the call's `_meta.progressToken`, when its client asked for progress */
  progressToken?: ProgressToken;
  /** sends one notification about this call (over HTTP: on the call's own response stream) */
  notify: (notification: ServerNotification) => Promise<void>;
  /** whether a log message at this level reaches the session (its logging/setLevel) */
  logs: (level: LoggingLevel) => boolean;
  /** lines streamed per execution before the one notice (policy limits.maxStreamedLines) */
  maxStreamedLines: number;
  heartbeatMs?: number;
}

export interface LiveRun {
  /** the call's own event stream: hand it to the executor */
  events: EventStream<ExecutionEvent>;
  /** Stops the heartbeat and resolves once every notification so far is sent: then the answer may follow. */
  stop(): Promise<void>;
}

type CodeReport = { progress: number; total?: number; message?: string };

function codeText(r: CodeReport): string {
  const amount = r.total === undefined ? `${r.progress}` : `${r.progress}/${r.total}`;
  return r.message === undefined ? amount : `${amount} ${escapeControlChars(r.message)}`;
}

/**
 * What a client sees of one call while it runs, made from the call's events: `notifications/progress` (queued,
 * starting, running and a heartbeat, then the code's own reports) when it sent a progress token, and each
 * stdout/stderr line as a `notifications/message` (info / warning) up to the policy's cap, then one notice.
 * `progress` counts the notifications, so it always increases; what the code reported is in `message`.
 */
export function followCall(opts: LiveRunOptions): LiveRun {
  const events = createEventStream<ExecutionEvent>();
  // One notification in flight at a time, in order: a slow reader holds them here, not as a pile of pending writes.
  let tail = Promise.resolve();
  const send = (n: ServerNotification) => {
    tail = tail.then(() => opts.notify(n)).catch(() => undefined);
  };
  let sent = 0;
  let startedAt = 0;
  let code: CodeReport | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  let executionId = '';
  let lines = 0;
  let noticeSent = false;
  const splitters: Record<'stdout' | 'stderr', LineSplitter> = {
    stdout: createLineSplitter(MAX_LINE_CHARS),
    stderr: createLineSplitter(MAX_LINE_CHARS),
  };

  const progress = (message: string) => {
    const { progressToken } = opts;
    if (progressToken === undefined) return;
    send({ method: 'notifications/progress', params: { progressToken, progress: ++sent, message } });
  };
  const running = () => {
    const s = ((performance.now() - startedAt) / 1000).toFixed(1);
    return code ? `running ${s} s: ${codeText(code)}` : `running ${s} s`;
  };
  const log = (level: LoggingLevel, data: Record<string, unknown>) => {
    if (opts.logs(level))
      send({ method: 'notifications/message', params: { level, logger: LOGGER_NAME, data } });
  };
  const stream = (kind: 'stdout' | 'stderr', found: string[]) => {
    const level = kind === 'stdout' ? 'info' : 'warning';
    if (!opts.logs(level)) return;
    for (const line of found) {
      if (lines >= opts.maxStreamedLines) {
        if (!noticeSent) {
          noticeSent = true;
          const notice = `${opts.maxStreamedLines} lines were streamed, the limit per execution (limits.maxStreamedLines); the result has the output in full, up to its own cap`;
          log('warning', { executionId, notice });
        }
        return;
      }
      lines++;
      log(level, { executionId, stream: kind, line: escapeControlChars(line) });
    }
  };
  const stopBeating = () => {
    clearInterval(heartbeat);
    heartbeat = undefined;
  };

  events.subscribe((e) => {
    switch (e.type) {
      case 'queued':
        return progress('queued');
      case 'admitted':
        return progress('starting');
      case 'started':
        executionId = e.executionId;
        startedAt = performance.now();
        progress(running());
        if (opts.progressToken !== undefined) {
          heartbeat = setInterval(() => progress(running()), opts.heartbeatMs ?? HEARTBEAT_MS);
          heartbeat.unref();
        }
        return;
      case 'progress':
        code = { progress: e.progress, total: e.total, message: e.message };
        return progress(running());
      case 'output':
        executionId = e.executionId;
        return stream(e.stream, splitters[e.stream].push(e.text));
      case 'finished':
        stopBeating();
        stream('stdout', splitters.stdout.flush());
        stream('stderr', splitters.stderr.flush());
        return;
      default:
        return;
    }
  });
  return {
    events,
    stop: () => {
      stopBeating();
      return tail;
    },
  };
}

import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createEventStream, isAppError, type EventStream, type TraceContext } from '../core/index.js';
import { FramedLink, ProtocolViolation, type LinkLimits } from './link.js';
import {
  CallMessageSchema,
  ContainerMessageSchema,
  PlaybookMessageSchema,
  ResultMessageSchema,
  SOCKET_NAME,
  type CallMessage,
  type ContainerMessage,
  type PlaybookMessage,
  type ProgressMessage,
  type ReplyMessage,
  type ResultMessage,
  type RunMessage,
} from './protocol.js';
import { createSocketDir, handToSandbox, removeSocketDir } from './socket-dir.js';

/** Serves the `call` messages of one execution (the mcpFactory proxy). */
export interface CallHandler {
  /**
   * `signal` fires when the execution ends (its result arrived or its link closed): stop working for it then.
   * `trace` is the W3C context the upstream request carries (its parent is this call's span).
   */
  handle(msg: CallMessage, signal: AbortSignal, trace?: TraceContext): Promise<ReplyMessage>;
}

/**
 * Serves `playbook` messages: the code of one of the execution's tenant's playbooks, read by the conductor (never
 * from anywhere the sandbox can write). Rejects with an AppError whose message the code sees.
 */
export interface PlaybookSource {
  code(name: string): Promise<string>;
}

/** What the code reported through progress(), checked and rate-capped. */
export type ProgressReport = Omit<ProgressMessage, 't'>;

/** progress frames beyond this burst, refilled at PROGRESS_PER_SECOND, end the run: the runtime sends 4 a second */
const PROGRESS_BURST = 20;
const PROGRESS_PER_SECOND = 10;
/** importPlaybook calls one run may make: each reads the tenant's store, so a loop must not turn into disk load */
export const MAX_PLAYBOOK_IMPORTS = 100;

export interface ExecutionSocket {
  /** host directory to bind-mount at /run/conductor */
  readonly dir: string;
  /** resolves when the in-container runtime has connected and said hello */
  readonly ready: Promise<void>;
  /** false once the runtime's connection has closed (the process died or was killed) */
  readonly alive: boolean;
  /**
   * Sends the code and serves calls until the result arrives; the pieces of a return value past its cap go to
   * `onValuePart` (at most message.retainBytes in all). Rejects on a protocol violation or a closed link.
   */
  run(
    message: RunMessage,
    calls: CallHandler,
    onValuePart?: (text: string) => void,
    playbooks?: PlaybookSource,
  ): Promise<ResultMessage>;
  /** the code's progress reports during the run, as they arrive */
  readonly progress: EventStream<ProgressReport>;
  close(): Promise<void>;
}

export interface ExecutionSocketOptions {
  /** parent directory for per-execution socket directories (0700, owned by the conductor) */
  baseDir: string;
  maxFrameBytes: number;
  /** drop a connection that has not said hello within this time */
  helloTimeoutMs: number;
  /** uid/gid the container runs as: the socket is handed to it when the conductor runs as root */
  sandboxUid: number;
  /** every message after hello counts, answered or not; one more ends the run (default 10 000) */
  maxMessages?: number;
  /** calls still waiting for their reply; at the cap the host stops reading until replies go out (default 64) */
  maxOutstandingCalls?: number;
  /** reply bytes queued for a peer that does not read, above which the host stops reading (default 1 MiB) */
  maxUnsentBytes?: number;
  /**
   * replies left unsent this long (the peer stopped reading) end the run (default 30 s: generous, since code that
   * blocks its event loop also stops reading for a while, and memory is already bounded by the pause)
   */
  stallTimeoutMs?: number;
  /** a frame must complete within this time once its first byte arrived (default 30 s) */
  frameTimeoutMs?: number;
}

function linkLimits(o: ExecutionSocketOptions): LinkLimits {
  return {
    maxFrameBytes: o.maxFrameBytes,
    maxMessages: o.maxMessages ?? 10_000,
    maxPending: o.maxOutstandingCalls ?? 64,
    maxUnsentBytes: o.maxUnsentBytes ?? 1024 * 1024,
    stallTimeoutMs: o.stallTimeoutMs ?? 30_000,
    frameTimeoutMs: o.frameTimeoutMs ?? 30_000,
  };
}

/** A running execution's side of the protocol: what to do with each message after the hello. */
interface Run {
  resolve(result: ResultMessage): void;
  reject(error: Error): void;
  calls: CallHandler;
  /** fires when this run ends however it ends, so upstream work started for it stops with it */
  ended: AbortController;
  onValuePart?: (text: string) => void;
  playbooks?: PlaybookSource;
  /** playbook frames this run has sent */
  playbookImports: number;
  /** value part bytes the run may still send */
  partBudget: number;
}

/**
 * The conductor's end of one execution's socket: the in-container runtime connects once, before any user code runs,
 * says hello, gets the code, makes calls and sends its result (see protocol.ts). Only that first connection is
 * served; any further one (from user code) is closed at once.
 */
class ExecutionSession implements ExecutionSocket {
  readonly dir: string;
  readonly ready: Promise<void>;
  readonly progress = createEventStream<ProgressReport>();
  #resolveReady!: () => void;
  #rejectReady!: (e: Error) => void;
  #link: FramedLink | undefined;
  #helloSeen = false;
  #helloTimer: NodeJS.Timeout | undefined;
  #ended: Error | undefined;
  #run: Run | undefined;
  #closed = false;
  #progressTokens = PROGRESS_BURST;
  #progressRefilledAt = performance.now();

  constructor(
    dir: string,
    readonly server: Server,
    readonly opts: ExecutionSocketOptions,
  ) {
    this.dir = dir;
    this.ready = new Promise<void>((res, rej) => ((this.#resolveReady = res), (this.#rejectReady = rej)));
    this.ready.catch(() => undefined);
    server.on('connection', (socket) => this.#accept(socket));
  }

  get alive(): boolean {
    return this.#helloSeen && !this.#ended && this.#link?.open === true;
  }

  run(
    message: RunMessage,
    calls: CallHandler,
    onValuePart?: (text: string) => void,
    playbooks?: PlaybookSource,
  ): Promise<ResultMessage> {
    return new Promise<ResultMessage>((resolve, reject) => {
      if (this.#ended) return reject(this.#ended);
      if (!this.#link || !this.#helloSeen)
        return reject(new ProtocolViolation('the sandbox runtime is not connected'));
      const partBudget = message.retainBytes;
      this.#run = {
        resolve,
        reject,
        calls,
        ended: new AbortController(),
        onValuePart,
        playbooks,
        playbookImports: 0,
        partBudget,
      };
      this.#link.send(message);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#end(new ProtocolViolation('the execution socket was closed'));
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await removeSocketDir(this.dir);
  }

  #accept(socket: Socket): void {
    if (this.#link || this.#ended) {
      socket.destroy();
      return;
    }
    const link = new FramedLink(socket, linkLimits(this.opts));
    this.#link = link;
    link.onMessage = (raw) => (this.#helloSeen ? this.#onRunMessage(raw) : this.#onHello(raw));
    link.onClose = (reason) => this.#end(reason);
    this.#helloTimer = setTimeout(
      () => this.#end(new ProtocolViolation('no hello from the sandbox runtime')),
      this.opts.helloTimeoutMs,
    );
  }

  #onHello(raw: unknown): void {
    const parsed = ContainerMessageSchema.safeParse(raw);
    if (!parsed.success || parsed.data.t !== 'hello')
      return this.#end(new ProtocolViolation('expected hello'));
    this.#helloSeen = true;
    clearTimeout(this.#helloTimer);
    this.#resolveReady();
  }

  #onRunMessage(raw: unknown): void {
    const run = this.#run;
    if (!run) return this.#end(new ProtocolViolation('the sandbox runtime spoke before it got code'));
    const parsed = ContainerMessageSchema.safeParse(raw);
    if (!parsed.success) return this.#invalid(raw);
    const msg: ContainerMessage = parsed.data;
    if (msg.t === 'result') {
      this.#settle(run);
      run.resolve(msg);
    } else if (msg.t === 'call') {
      this.#serve(run, msg);
    } else if (msg.t === 'playbook') {
      this.#respond(run, playbookReply(run.playbooks, msg, ++run.playbookImports));
    } else if (msg.t === 'value_part') {
      run.partBudget -= Buffer.byteLength(msg.text);
      if (run.partBudget < 0)
        return this.#end(new ProtocolViolation('the return value went past its retention limit'));
      run.onValuePart?.(msg.text);
    } else if (msg.t === 'progress') {
      this.#onProgress(msg);
    } else {
      this.#end(new ProtocolViolation('unexpected hello'));
    }
  }

  /**
   * Progress frames count against the message budget like any frame (prepareSandbox allows for one per
   * PROGRESS_MIN_INTERVAL_MS through the longest run) and against a rate: faster than the runtime ever sends them,
   * they are hostile and end the run.
   */
  #onProgress(msg: ProgressMessage): void {
    const now = performance.now();
    const refill = ((now - this.#progressRefilledAt) / 1000) * PROGRESS_PER_SECOND;
    this.#progressTokens = Math.min(PROGRESS_BURST, this.#progressTokens + refill);
    this.#progressRefilledAt = now;
    if (this.#progressTokens < 1) {
      return this.#end(
        new ProtocolViolation(
          `the sandbox runtime sent progress reports faster than ${PROGRESS_PER_SECOND} a second`,
        ),
      );
    }
    this.#progressTokens -= 1;
    this.progress.emit({
      progress: msg.progress,
      ...(msg.total === undefined ? {} : { total: msg.total }),
      ...(msg.message === undefined ? {} : { message: msg.message }),
    });
  }

  /** A malformed call still gets an answer when it carries a usable id; anything else ends the link. */
  #invalid(raw: unknown): void {
    const id = (raw as { id?: unknown } | null)?.id;
    const t = (raw as { t?: unknown } | null)?.t;
    if ((t === 'call' || t === 'playbook') && Number.isSafeInteger(id)) {
      const schema = t === 'call' ? CallMessageSchema : PlaybookMessageSchema;
      const reason = schema.safeParse(raw).error?.issues[0]?.message ?? `invalid ${t}`;
      this.#link?.send({
        t: 'reply',
        id: id as number,
        ok: false,
        error: { message: `invalid ${t}: ${reason}`, code: 'bad_request' },
      } satisfies ReplyMessage);
      return;
    }
    if ((raw as { t?: unknown } | null)?.t === 'result') {
      // Say what was wrong with it: the model reads this as the reason its run failed.
      const issue = ResultMessageSchema.safeParse(raw).error?.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      return this.#end(
        new ProtocolViolation(`malformed result frame (${where}${issue?.message ?? 'invalid'})`),
      );
    }
    this.#end(new ProtocolViolation('the sandbox runtime sent an invalid message'));
  }

  #serve(run: Run, msg: CallMessage): void {
    this.#respond(
      run,
      run.calls.handle(msg, run.ended.signal).catch((): ReplyMessage => ({
        t: 'reply',
        id: msg.id,
        ok: false,
        error: { message: 'the conductor could not handle the call', code: 'internal' },
      })),
    );
  }

  /** Sends a reply once it is ready; it counts as an outstanding call until then. */
  #respond(run: Run, pending: Promise<ReplyMessage>): void {
    const link = this.#link!;
    link.adjustPending(+1);
    void pending.then((reply) => {
      link.adjustPending(-1);
      // A reply to a run that is over goes nowhere: the runtime stopped listening with its result.
      if (this.#run === run) link.send(reply);
    });
  }

  /** The run is over: no more messages are served for it, and its upstream work is told to stop. */
  #settle(run: Run): void {
    if (this.#run !== run) return;
    this.#run = undefined;
    this.#link!.onMessage = () => undefined;
    run.ended.abort(new Error('the execution ended'));
  }

  #end(reason: Error): void {
    if (this.#ended) return;
    this.#ended = reason;
    clearTimeout(this.#helloTimer);
    this.#link?.close(reason);
    this.#rejectReady(reason);
    const run = this.#run;
    if (run) {
      this.#settle(run);
      run.reject(reason);
    }
  }
}

/** The answer to importPlaybook: the code, or the store's reason (which names the playbook). */
async function playbookReply(
  source: PlaybookSource | undefined,
  msg: PlaybookMessage,
  nth: number,
): Promise<ReplyMessage> {
  const fail = (message: string, code: string): ReplyMessage => ({
    t: 'reply',
    id: msg.id,
    ok: false,
    error: { message, code },
  });
  if (!source) return fail('playbooks are not available in this conductor', 'unavailable');
  if (nth > MAX_PLAYBOOK_IMPORTS)
    return fail(`at most ${MAX_PLAYBOOK_IMPORTS} importPlaybook calls per execution`, 'limit');
  try {
    return { t: 'reply', id: msg.id, ok: true, result: { code: await source.code(msg.name) } };
  } catch (error) {
    if (isAppError(error)) return fail(error.message, error.code);
    return fail(`the conductor could not read playbook ${JSON.stringify(msg.name)}`, 'internal');
  }
}

export async function createExecutionSocket(opts: ExecutionSocketOptions): Promise<ExecutionSocket> {
  const dir = await createSocketDir(opts.baseDir);
  const path = join(dir, SOCKET_NAME);
  const server = createServer({ allowHalfOpen: false });
  const session = new ExecutionSession(dir, server, opts);
  server.maxConnections = 4;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await handToSandbox(dir, path, opts.sandboxUid);
  return session;
}

import { createHash, randomUUID } from 'node:crypto';
import {
  CancelledError,
  isAppError,
  OverloadedError,
  SandboxError,
  RateLimitError,
  type CallStatus,
  type EventStream,
  type ExecutionTrace,
  type ExecutionEvent,
  type ExecutionResult,
  childTraceContext,
  executionTrace,
  newSpanId,
  type RateWindow,
  type TraceContext,
} from '../core/index.js';
import type { DockerPort } from '../docker/index.js';
import type { Logger } from '../obs/index.js';
import { callStatus, type CallHandler, type McpDirectory, type PlaybookSource } from '../proxy/index.js';
import { USER_CODE_FILENAME, type WrapResult } from '../wrap/index.js';
import { uncheckedResult, type CodeChecker } from './check.js';
import type { Limiter } from './limiter.js';
import { keepOutputs, type OutputKeeper } from './retained.js';
import { disposeSandbox, type PreparedSandbox } from './prepared.js';
import type { SandboxProfile } from './profile.js';
import { runInSandbox } from './run.js';

/** Where prepared sandboxes come from: made on demand (cold) or taken from the warm pool. */
export interface SandboxSource {
  /** `signal` gives up the wait (and undoes a container being made for it): the promise then rejects. */
  acquire(profile: SandboxProfile, signal?: AbortSignal): Promise<PreparedSandbox>;
}

export interface ExecutionRequest {
  code: string;
  timeoutMs?: number;
  /** type-check the code first (it runs only when the check passes); default: the policy's deno.check */
  check?: boolean;
  /** the caller's trace context, passed on in `queued` */
  trace?: TraceContext;
}

export interface ExecuteOptions {
  /**
   * Stops the execution wherever it is: a queued call never gets a container, a running one is killed and its
   * upstream calls are cancelled. Its reason is what the result says.
   */
  signal?: AbortSignal;
  /** this execution's own subscribers (the conductor's bus gets every event too) */
  events?: EventStream<ExecutionEvent>;
}

export interface Execution {
  /** the container's execution id; absent when the code was refused before a sandbox was assigned */
  executionId?: string;
  result: ExecutionResult;
}

export interface Executor {
  /**
   * Runs one call's code. What the code does is in the result; expected operational failures (over the caps,
   * shutting down, cancelled, Docker unavailable) reject with an AppError. Either way, `finished` is emitted.
   */
  execute(request: ExecutionRequest, options?: ExecuteOptions): Promise<Execution>;
  /** Waits for every execution still under way (stop them first) and every container removal in flight. */
  drain(): Promise<void>;
  readonly active: number;
}

export interface ExecutorDeps {
  docker: DockerPort;
  logger: Logger;
  source: SandboxSource;
  limiter: Limiter;
  /** the one sandbox configuration this executor runs (a tenant's) */
  profile: SandboxProfile;
  /** the upstream MCP servers its code may call */
  directory: McpDirectory;
  /** the tenant's playbooks, for importPlaybook */
  playbooks?: PlaybookSource;
  /** wrapUserCode off the event loop (the conductor's WrapPool) */
  wrap: (code: string) => Promise<WrapResult>;
  /** what type-checks code when a call asks for it; without one, such calls fail */
  checker?: CodeChecker;
  /** keeps output past the result's caps (up to the policy's maxRetainedBytes); without one, it is cut */
  retention?: OutputKeeper;
  /** the conductor's bus: metrics, audit and traces subscribe there */
  bus: EventStream<ExecutionEvent>;
  /** traces are exported: every call gets its trace ids up front, and upstream requests carry them */
  traced?: boolean;
  /** the tenant's executionsPerMinute, checked before anything else is done with a call */
  executionRate?: RateWindow;
  /** fires when the conductor stops taking work: calls not yet running are refused */
  admission: AbortSignal;
  /** fires when running executions must stop (shutdown, once the grace period is over) */
  termination: AbortSignal;
}

function rejected(name: string, message: string): ExecutionResult {
  return {
    status: 'error',
    stdout: '',
    stderr: '',
    error: { name, message },
    durationMs: 0,
    truncated: { stdout: false, stderr: false, returnValue: false },
    resources: { exitReason: 'rejected' },
  };
}

const shuttingDown = () =>
  new OverloadedError('The conductor is shutting down; this execution was not started. Try again.');

/** The status a conductor-side failure counts as. */
function failureStatus(error: unknown): CallStatus {
  if (error instanceof CancelledError) return 'cancelled';
  if (error instanceof RateLimitError) return 'rejected';
  return isAppError(error) && error.code === 'overloaded' ? 'rejected' : 'failed';
}

type Emit = (event: ExecutionEvent) => void;
/** the execution's trace when traces are exported; the caller's context as it came */
type CallTrace = { execution?: ExecutionTrace; caller?: TraceContext };
type McpCallFacts = Omit<
  Extract<ExecutionEvent, { type: 'mcp_call' }>,
  'type' | 'callId' | 'tenant' | 'executionId'
>;

/**
 * The execution's calls, each reported as an `mcp_call` event once it is answered. When traced, each call's span id
 * is chosen now, so the upstream is told it as the parent of its own spans; untraced, the caller's context (if any)
 * goes on unchanged, as W3C Trace Context asks of a hop that records nothing.
 */
function observedCalls(
  inner: CallHandler,
  trace: CallTrace,
  report: (call: McpCallFacts) => void,
): CallHandler {
  return {
    async handle(msg, signal) {
      const started = performance.now();
      const spanId = trace.execution ? newSpanId() : undefined;
      const context = trace.execution ? childTraceContext(trace.execution, spanId!) : trace.caller;
      const reply = await inner.handle(msg, signal, context);
      report({
        server: msg.server ?? '-',
        op: msg.op,
        ...(msg.name ? { name: msg.name } : {}),
        status: callStatus(reply),
        ...(reply.ok ? {} : { errorCode: reply.error.code }),
        durationMs: performance.now() - started,
        ...(spanId ? { spanId } : {}),
      });
      return reply;
    },
  };
}

type Ids = { callId: string; tenant: string };
/** What a call runs once it has its place. */
type Job = { code: string; timeoutMs: number; check: boolean; trace: CallTrace };
type Wrapped = Extract<WrapResult, { ok: true }>;

/** One tenant's executor: its profile, its limiter, its upstream servers; every call's events go to the bus too. */
class SandboxExecutor implements Executor {
  readonly #deps: ExecutorDeps;
  readonly #cleanups = new Set<Promise<void>>();
  /** executions that hold a place, from admission to their answer: a closing conductor waits for them */
  readonly #running = new Set<Promise<unknown>>();

  constructor(deps: ExecutorDeps) {
    this.#deps = deps;
  }

  get active(): number {
    return this.#deps.limiter.active;
  }

  async execute(request: ExecutionRequest, options: ExecuteOptions = {}): Promise<Execution> {
    const { profile, bus } = this.#deps;
    const { limits } = profile.policy;
    const ids: Ids = { callId: randomUUID(), tenant: profile.tenant };
    const emit: Emit = (e) => {
      options.events?.emit(e);
      bus.emit(e);
    };
    const started = performance.now();
    const timeoutMs = Math.min(request.timeoutMs ?? limits.defaultTimeoutMs, limits.maxTimeoutMs);
    const codeBytes = Buffer.byteLength(request.code, 'utf8');
    const trace = this.#deps.traced ? executionTrace(request.trace) : undefined;
    emit({
      type: 'queued',
      ...ids,
      codeSha256: createHash('sha256').update(request.code).digest('hex'),
      codeBytes,
      timeoutMs,
      ...(request.trace ? { trace: request.trace } : {}),
      ...(trace ? { traceId: trace.traceId } : {}),
    });
    try {
      // Admission first: a call over its tenant's rate costs nothing more (no parse, no queue place, no container).
      const overRate = this.#deps.executionRate?.take();
      if (overRate) throw new RateLimitError(overRate.message);
      if (codeBytes > limits.maxCodeBytes) {
        const message = `The code is ${codeBytes} bytes; the limit is ${limits.maxCodeBytes} bytes.`;
        return finish(emit, ids, { result: rejected('CodeTooLargeError', message) });
      }
      const check = request.check ?? profile.policy.deno.check;
      const job: Job = {
        code: request.code,
        timeoutMs,
        check,
        trace: { execution: trace, caller: request.trace },
      };
      return finish(emit, ids, await this.#queue(job, options.signal, ids, emit));
    } catch (error) {
      emit({
        type: 'finished',
        ...ids,
        status: failureStatus(error),
        durationMs: Math.round(performance.now() - started),
        error: { code: isAppError(error) ? error.code : 'internal', message: errorMessage(error) },
      });
      throw error;
    }
  }

  async drain(): Promise<void> {
    while (this.#running.size + this.#cleanups.size > 0)
      await Promise.allSettled([...this.#running, ...this.#cleanups]);
  }

  /** Waits for a place; refused while it waits when the conductor stops taking work or the caller gives up. */
  async #queue(job: Job, signal: AbortSignal | undefined, ids: Ids, emit: Emit): Promise<Execution> {
    const { admission, limiter } = this.#deps;
    const refusal = () =>
      admission.aborted ? shuttingDown() : signal?.aborted ? new CancelledError() : undefined;
    const early = refusal();
    if (early) throw early;
    let admitted = false;
    const queue = AbortSignal.any([admission, ...(signal ? [signal] : [])]);
    return limiter
      .run(() => {
        const late = refusal();
        if (late) throw late;
        admitted = true;
        const run = this.#run(job, signal, ids, emit);
        this.#running.add(run);
        void run.then(
          () => this.#running.delete(run),
          () => this.#running.delete(run),
        );
        return run;
      }, queue)
      .catch((error: unknown) => {
        throw (!admitted && refusal()) || error;
      });
  }

  /** Type-checks the code when asked; resolves with the result of a check that did not pass. */
  async #check(
    job: Job,
    wrapped: Wrapped,
    signal: AbortSignal | undefined,
  ): Promise<{ result?: ExecutionResult; ms?: number }> {
    if (!job.check) return {};
    const { checker, logger } = this.#deps;
    if (!checker) throw new SandboxError('Type checking is not available in this conductor.');
    const { module, segments } = wrapped;
    const stop = AbortSignal.any([this.#deps.termination, ...(signal ? [signal] : [])]);
    const verdict = await checker.check({
      code: job.code,
      module,
      segments,
      timeoutMs: job.timeoutMs,
      signal: stop,
    });
    if (signal?.aborted) throw new CancelledError();
    logger.debug({ step: 'check', kind: verdict.kind, ms: verdict.ms }, 'type check done');
    return verdict.kind === 'passed' ? { ms: verdict.ms } : { result: uncheckedResult(verdict) };
  }

  /**
   * Runs the code in a sandbox once the call has its place; the sandbox is disposed of after answering. The code is
   * parsed only now, and on a worker thread: parsing costs about a second per megabyte, and done before admission on
   * the event loop it let one tenant's burst of large programs (most of them to be refused) stall every other tenant.
   */
  async #run(job: Job, signal: AbortSignal | undefined, ids: Ids, emit: Emit): Promise<Execution> {
    const { docker, logger, source, profile, directory, termination } = this.#deps;
    const { timeoutMs } = job;
    emit({ type: 'admitted', ...ids });
    const wrapped = await this.#deps.wrap(job.code);
    if (!wrapped.ok) {
      const { message, line, column } = wrapped.error;
      const where = `${USER_CODE_FILENAME}:${line}:${column}`;
      return { result: rejected('SyntaxError', `${message} (${where})`) };
    }
    const checked = await this.#check(job, wrapped, signal);
    if (checked.result) return { result: checked.result };
    const t0 = performance.now();
    const askedAt = Date.now();
    // The caller's cancellation and the conductor's final stop reach the sandbox wherever it is, even being made.
    const stop = AbortSignal.any([termination, ...(signal ? [signal] : [])]);
    const stopped = () => (signal?.aborted ? new CancelledError() : shuttingDown());
    let sandbox: PreparedSandbox;
    try {
      sandbox = await source.acquire(profile, stop);
    } catch (error) {
      throw stop.aborted ? stopped() : error;
    }
    const executionId = sandbox.executionId;
    const log = logger.child({ executionId });
    const waiting = sandbox.createdAt <= askedAt;
    log.debug({ step: 'acquire', ms: Math.round(performance.now() - t0), waiting }, 'sandbox taken');
    try {
      if (stop.aborted) throw stopped();
      emit({ type: 'started', ...ids, executionId, source: waiting ? 'pool' : 'cold' });
      const stopOutput = streamOutput(sandbox, (stream, text) =>
        emit({ type: 'output', ...ids, executionId, stream, text }),
      );
      const kept = keepOutputs(this.#deps.retention, sandbox, profile.tenant, executionId);
      const stopProgress = sandbox.socket.progress.subscribe((report) =>
        emit({ type: 'progress', ...ids, executionId, ...report }),
      );
      const dispatcher = directory.dispatcher();
      const calls = observedCalls(dispatcher, job.trace, (call) =>
        emit({ type: 'mcp_call', ...ids, executionId, ...call }),
      );
      log.debug({ step: 'deliver', timeoutMs }, 'delivering code');
      let result: ExecutionResult;
      try {
        sandbox.egress?.open((request) => emit({ type: 'egress', ...ids, executionId, ...request }));
        const { module, segments } = wrapped;
        const positions = { code: job.code, module, segments };
        const { playbooks } = this.#deps;
        const run = { module, positions, timeoutMs, calls, playbooks, signal: stop, ...kept.returnValue };
        result = await runInSandbox(docker, sandbox, run);
      } finally {
        stopOutput();
        stopProgress();
        // Requests still in flight end here; their events come before `finished`.
        await sandbox.egress?.close();
      }
      await kept.attach(result);
      if (directory.configured) result.resources.mcpCalls = dispatcher.callCount;
      if (checked.ms !== undefined) result.resources.checkMs = checked.ms;
      const { exitReason } = result.resources;
      if (exitReason === 'timeout' || exitReason === 'killed' || exitReason === 'cancelled')
        log.debug({ step: 'kill', exitReason }, 'container killed');
      log.debug(
        { step: 'result', status: result.status, exitReason, ms: result.durationMs },
        'execution finished',
      );
      return { executionId, result };
    } finally {
      // Answer first; removal happens off the caller's path and is awaited by drain().
      this.#dispose(sandbox, log, () => emit({ type: 'removed', ...ids, executionId }));
    }
  }

  #dispose(sandbox: PreparedSandbox, log: Logger, onRemoved: () => void): void {
    const t0 = performance.now();
    const p = disposeSandbox(this.#deps.docker, sandbox)
      .then(() => {
        log.debug({ step: 'remove', ms: Math.round(performance.now() - t0) }, 'container removed');
        onRemoved();
      })
      .catch((error: unknown) =>
        this.#deps.logger.warn({ err: error, executionId: sandbox.executionId }, 'container removal failed'),
      )
      .finally(() => this.#cleanups.delete(p));
    this.#cleanups.add(p);
  }
}

const errorMessage = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** Emits the `finished` event of a call that produced a result. */
function finish(emit: Emit, ids: Ids, execution: Execution): Execution {
  const { result, executionId } = execution;
  emit({
    type: 'finished',
    ...ids,
    ...(executionId ? { executionId } : {}),
    status: result.resources.exitReason === 'cancelled' ? 'cancelled' : result.status,
    durationMs: result.durationMs,
    resources: result.resources,
  });
  return execution;
}

export function createExecutor(deps: ExecutorDeps): Executor {
  return new SandboxExecutor(deps);
}

/** Hands on the sandbox's kept output as text, decoded across chunk boundaries, until the returned stop is called. */
function streamOutput(
  sandbox: PreparedSandbox,
  on: (stream: 'stdout' | 'stderr', text: string) => void,
): () => void {
  const subscribe = (stream: 'stdout' | 'stderr') => {
    const decoder = new TextDecoder();
    return sandbox[stream].kept.subscribe((bytes) => {
      const text = decoder.decode(bytes, { stream: true });
      if (text) on(stream, text);
    });
  };
  const stops = [subscribe('stdout'), subscribe('stderr')];
  return () => stops.forEach((s) => s());
}

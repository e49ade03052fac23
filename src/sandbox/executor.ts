import type { ExecutionResult } from '../core/index.js';
import type { DockerPort } from '../docker/index.js';
import type { Logger } from '../obs/index.js';
import type { CallHandler } from '../proxy/socket-server.js';
import { wrapUserCode } from '../wrap/index.js';
import type { Limiter } from './limiter.js';
import { disposeSandbox, type PreparedSandbox } from './prepared.js';
import type { SandboxProfile } from './profile.js';
import { runInSandbox } from './run.js';

/** Where prepared sandboxes come from: made on demand (cold) or taken from the warm pool. */
export interface SandboxSource {
  acquire(profile: SandboxProfile): Promise<PreparedSandbox>;
}

export interface ExecutionRequest {
  code: string;
  timeoutMs?: number;
  profile: SandboxProfile;
  /** the mcpFactory proxy for this execution, if any upstream servers are configured */
  calls?: (executionId: string) => CallHandler & { readonly callCount: number };
  /** called once the execution has a slot, before any container is taken; throwing refuses it (shutdown) */
  admit?: () => void;
  /** told the execution id once a sandbox is assigned (audit) */
  onStart?: (executionId: string) => void;
}

export interface Executor {
  execute(request: ExecutionRequest): Promise<ExecutionResult>;
  /** Waits for every container removal still in flight. */
  drain(): Promise<void>;
  readonly active: number;
}

export interface ExecutorDeps {
  docker: DockerPort;
  logger: Logger;
  source: SandboxSource;
  limiter: Limiter;
}

function rejected(name: string, message: string): ExecutionResult {
  return {
    status: 'error',
    stdout: '',
    stderr: '',
    error: { name, message },
    durationMs: 0,
    truncated: { stdout: false, stderr: false, returnValue: false },
    resources: { exitReason: 'rejected', exitCode: null },
  };
}

export function createExecutor(deps: ExecutorDeps): Executor {
  const cleanups = new Set<Promise<void>>();

  const dispose = (sandbox: PreparedSandbox, log: Logger) => {
    const t0 = performance.now();
    const p = disposeSandbox(deps.docker, sandbox)
      .then(() => log.debug({ step: 'remove', ms: Math.round(performance.now() - t0) }, 'container removed'))
      .catch((error: unknown) =>
        deps.logger.warn({ err: error, executionId: sandbox.executionId }, 'container removal failed'),
      )
      .finally(() => cleanups.delete(p));
    cleanups.add(p);
  };

  return {
    get active() {
      return deps.limiter.active;
    },
    async execute(request) {
      const { limits } = request.profile.policy;
      const codeBytes = Buffer.byteLength(request.code, 'utf8');
      if (codeBytes > limits.maxCodeBytes) {
        return rejected(
          'CodeTooLargeError',
          `The code is ${codeBytes} bytes; the limit is ${limits.maxCodeBytes} bytes.`,
        );
      }
      const wrapped = wrapUserCode(request.code);
      if (!wrapped.ok) {
        const { message, line, column } = wrapped.error;
        return rejected('SyntaxError', `${message} (code.ts:${line}:${column})`);
      }
      const timeoutMs = Math.min(request.timeoutMs ?? limits.defaultTimeoutMs, limits.maxTimeoutMs);
      return deps.limiter.run(async () => {
        request.admit?.();
        const t0 = performance.now();
        const askedAt = Date.now();
        const sandbox = await deps.source.acquire(request.profile);
        request.onStart?.(sandbox.executionId);
        const log = deps.logger.child({ executionId: sandbox.executionId });
        log.debug(
          {
            step: 'acquire',
            ms: Math.round(performance.now() - t0),
            waiting: sandbox.createdAt <= askedAt,
          },
          'sandbox taken',
        );
        try {
          log.debug({ step: 'deliver', codeBytes, timeoutMs }, 'delivering code');
          const calls = request.calls?.(sandbox.executionId);
          const result = await runInSandbox(deps.docker, sandbox, {
            module: wrapped.module,
            line1Offset: wrapped.line1Offset,
            timeoutMs,
            calls,
          });
          if (calls) result.resources.mcpCalls = calls.callCount;
          const { exitReason } = result.resources;
          if (exitReason === 'timeout' || exitReason === 'killed')
            log.debug({ step: 'kill', exitReason }, 'container killed');
          log.debug(
            { step: 'result', status: result.status, exitReason, ms: result.durationMs },
            'execution finished',
          );
          return result;
        } finally {
          // Answer first; removal happens off the caller's path and is awaited by drain().
          dispose(sandbox, log);
        }
      });
    },
    async drain() {
      while (cleanups.size > 0) await Promise.all([...cleanups]);
    },
  };
}

import type { ErrorInfo, ExecutionResult, ExitReason } from '../core/index.js';
import type { DockerPort } from '../docker/index.js';
import type { ResultMessage } from '../proxy/protocol.js';
import { isProtocolViolation, type CallHandler } from '../proxy/socket-server.js';
import type { PreparedSandbox } from './prepared.js';

export interface RunOptions {
  module: string;
  /** characters the wrapper added before the user's first line (to fix line-1 columns in stacks) */
  line1Offset: number;
  timeoutMs: number;
  calls: CallHandler | undefined;
}

type Outcome =
  | { kind: 'result'; message: ResultMessage }
  | { kind: 'exited'; code: number }
  | { kind: 'timeout' }
  | { kind: 'violation'; message: string };

const OUTPUT_SETTLE_MS = 1000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Points line-1 columns of `code.ts` back at the user's text. */
export function fixLineOneColumns(text: string, line1Offset: number): string {
  if (line1Offset === 0) return text;
  return text.replace(
    /code\.ts:1:(\d+)/g,
    (_, col: string) => `code.ts:1:${Math.max(1, Number(col) - line1Offset)}`,
  );
}

function isOutOfMemory(code: number, stderr: string): boolean {
  return code === 133 || /out of memory|Allocation failed - JavaScript heap/i.test(stderr);
}

/**
 * Delivers the code to a prepared sandbox and turns what happens into a result. The outcome comes from host-side
 * facts: the result frame, the engine's exit code and OOM state, our own deadline — never from output alone.
 * The container is not removed here: the caller answers first and cleans up off the response path.
 */
export async function runInSandbox(
  docker: DockerPort,
  sandbox: PreparedSandbox,
  opts: RunOptions,
): Promise<ExecutionResult> {
  const started = performance.now();
  const { maxReturnBytes } = sandbox.profile.policy.limits;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), opts.timeoutMs);
  });
  const outcome = await Promise.race<Outcome>([
    sandbox.socket
      .run({ t: 'run', code: opts.module, nonce: sandbox.nonce, maxReturnBytes }, opts.calls)
      .then(
        (message): Outcome => ({ kind: 'result', message }),
        // A closed link usually means the process died; let the exit win when it is about to be reported.
        async (error: unknown): Promise<Outcome> => {
          const code = await Promise.race([sandbox.exited, sleep(2000).then(() => undefined)]);
          if (code !== undefined) return { kind: 'exited', code };
          return {
            kind: 'violation',
            message: isProtocolViolation(error) ? (error as Error).message : String(error),
          };
        },
      ),
    sandbox.exited.then((code): Outcome => ({ kind: 'exited', code })),
    deadline,
  ]);
  clearTimeout(timer);
  const durationMs = Math.round(performance.now() - started);

  if (outcome.kind === 'timeout' || outcome.kind === 'violation') {
    // SIGKILL: Deno as PID 1 or with a SIGTERM listener would ignore a polite stop.
    await docker.remove(sandbox.containerId);
    await Promise.race([sandbox.streamEnded, sleep(OUTPUT_SETTLE_MS)]);
  } else if (outcome.kind === 'result') {
    await Promise.race([
      Promise.all([sandbox.stdout.markerSeen, sandbox.stderr.markerSeen]),
      sandbox.streamEnded,
      sleep(OUTPUT_SETTLE_MS),
    ]);
  } else {
    await Promise.race([sandbox.streamEnded, sleep(OUTPUT_SETTLE_MS)]);
  }

  const stdout = sandbox.stdout.text();
  const stderr = fixLineOneColumns(sandbox.stderr.text(), opts.line1Offset);
  const base = {
    stdout,
    stderr,
    durationMs,
    truncated: { stdout: sandbox.stdout.truncated, stderr: sandbox.stderr.truncated, returnValue: false },
  };
  const resources = (exitReason: ExitReason, exitCode: number | null) => ({ exitReason, exitCode });

  switch (outcome.kind) {
    case 'result': {
      const m = outcome.message;
      if (m.ok) {
        let returnValue: unknown;
        if (m.value !== undefined) {
          if (m.valueTruncated) returnValue = m.value;
          else {
            try {
              returnValue = JSON.parse(m.value);
            } catch {
              returnValue = m.value;
            }
          }
        }
        return {
          ...base,
          status: 'success',
          ...(m.value !== undefined ? { returnValue } : {}),
          truncated: { ...base.truncated, returnValue: m.valueTruncated },
          resources: resources('completed', null),
        };
      }
      const error: ErrorInfo = {
        name: m.error.name,
        message: fixLineOneColumns(m.error.message, opts.line1Offset),
        ...(m.error.stack ? { stack: fixLineOneColumns(m.error.stack, opts.line1Offset) } : {}),
      };
      return { ...base, status: 'error', error, resources: resources('exception', null) };
    }
    case 'timeout':
      return {
        ...base,
        status: 'timeout',
        error: {
          name: 'TimeoutError',
          message: `The code did not finish within ${opts.timeoutMs} ms and was killed.`,
        },
        resources: resources('timeout', null),
      };
    case 'violation':
      return {
        ...base,
        status: 'error',
        error: {
          name: 'SandboxError',
          message: `The sandbox broke the conductor protocol and was killed (${outcome.message}).`,
        },
        resources: resources('killed', null),
      };
    case 'exited': {
      const state = await docker.inspectContainer(sandbox.containerId);
      if (state?.oomKilled || isOutOfMemory(outcome.code, stderr)) {
        const limit = sandbox.profile.policy.container.memoryMb;
        return {
          ...base,
          status: 'error',
          error: {
            name: 'OutOfMemoryError',
            message: `The code ran out of memory (limit ${limit} MB) and was killed.`,
          },
          resources: resources('out_of_memory', outcome.code),
        };
      }
      return {
        ...base,
        status: 'error',
        error: {
          name: 'ExitError',
          message: `The sandbox process exited with code ${outcome.code} before the code returned a result (for example through Deno.exit()).`,
        },
        resources: resources('exited', outcome.code),
      };
    }
  }
}

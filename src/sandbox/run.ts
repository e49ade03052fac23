import type { ErrorInfo, ExecutionResult, ExitReason } from '../core/index.js';
import type { ContainerUsage, DockerPort } from '../docker/index.js';
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

/** V8's heap limit aborts the process (SIGTRAP, 128 + 5); the cgroup's OOM kill is the engine's OOMKilled. */
const EXIT_V8_OUT_OF_MEMORY = 133;

/** The tmpfs the container gets (see container-spec.ts); the host checks whether it filled up. */
const TMPFS_MOUNTS = ['/tmp'];

/** A limit the host saw reached during a failed run, named for the model; undefined when none was. */
function limitReached(
  usage: ContainerUsage | undefined,
  sandbox: PreparedSandbox,
): { reason: ExitReason; name: string; what: string } | undefined {
  const { container } = sandbox.profile.policy;
  if (usage?.pidsLimitReached) {
    return {
      reason: 'pids_exhausted',
      name: 'PidsLimitError',
      what: `The sandbox reached its limit of ${container.pidsLimit} processes and threads (pidsLimit): a process or thread (a subprocess, a Worker) could not be started.`,
    };
  }
  if (usage && usage.fullMounts.length > 0) {
    return {
      reason: 'disk_full',
      name: 'DiskFullError',
      what: `${usage.fullMounts.join(', ')} is full (its limit is ${container.tmpfsMb} MB): writing more fails with "No space left on device".`,
    };
  }
  return undefined;
}

/**
 * Delivers the code to a prepared sandbox and turns what happens into a result. The outcome comes from host-side
 * facts: the result frame, the engine's exit code and OOM state, our own deadline, the container's cgroup (peak
 * memory, the pids limit) and its tmpfs — never from what the code printed or threw.
 * The container is not removed here: the caller answers first and cleans up off the response path.
 */
export async function runInSandbox(
  docker: DockerPort,
  sandbox: PreparedSandbox,
  opts: RunOptions,
): Promise<ExecutionResult> {
  const started = performance.now();
  const { maxReturnBytes } = sandbox.profile.policy.limits;
  // Read once, as early as possible while the container is alive: its cgroup goes with its last process, so a later
  // reading would only know less. Whether /tmp filled up matters only to a failed run; a success skips the statfs.
  let reading: Promise<ContainerUsage | undefined> | undefined;
  const readUsage = (failed: boolean) =>
    (reading ??= docker.readUsage(sandbox.containerId, failed ? TMPFS_MOUNTS : []).catch(() => undefined));
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
          // The link closes as the process dies, before the engine reports the exit and removes the cgroup.
          await readUsage(true);
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
  const usage = await readUsage(outcome.kind !== 'result' || !outcome.message.ok);
  // The runtime waits for the host to close the link after its result (so the reading above could happen).
  if (outcome.kind === 'result') void sandbox.socket.close().catch(() => undefined);

  if (outcome.kind === 'timeout' || outcome.kind === 'violation') {
    // SIGKILL: Deno as PID 1 or with a SIGTERM listener would ignore a polite stop. Removal comes later, off the
    // caller's path (the executor disposes of every sandbox after answering).
    await docker.kill(sandbox.containerId);
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
  const resources = (exitReason: ExitReason, exitCode: number | null) => ({
    exitReason,
    exitCode,
    ...(usage?.peakMemoryBytes !== undefined ? { peakMemoryBytes: usage.peakMemoryBytes } : {}),
  });
  const limit = limitReached(usage, sandbox);

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
      const message = fixLineOneColumns(m.error.message, opts.line1Offset);
      const stack = m.error.stack ? fixLineOneColumns(m.error.stack, opts.line1Offset) : undefined;
      if (limit) {
        const error: ErrorInfo = {
          name: limit.name,
          message: `${limit.what} The code failed with ${m.error.name}: ${message}`,
          ...(stack ? { stack } : {}),
        };
        return { ...base, status: 'error', error, resources: resources(limit.reason, null) };
      }
      const error: ErrorInfo = { name: m.error.name, message, ...(stack ? { stack } : {}) };
      return { ...base, status: 'error', error, resources: resources('exception', null) };
    }
    case 'timeout':
      return {
        ...base,
        status: 'timeout',
        error: {
          name: 'TimeoutError',
          message: `The code did not finish within ${opts.timeoutMs} ms and was killed.${limit ? ` ${limit.what}` : ''}`,
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
      // Only the engine's OOM state and V8's own abort count: what the code printed proves nothing.
      const state = await docker.inspectContainer(sandbox.containerId);
      if (state?.oomKilled || outcome.code === EXIT_V8_OUT_OF_MEMORY) {
        const memoryMb = sandbox.profile.policy.container.memoryMb;
        return {
          ...base,
          status: 'error',
          error: {
            name: 'OutOfMemoryError',
            message: `The code ran out of memory (limit ${memoryMb} MB) and was killed.`,
          },
          resources: resources('out_of_memory', outcome.code),
        };
      }
      if (limit) {
        return {
          ...base,
          status: 'error',
          error: {
            name: limit.name,
            message: `${limit.what} The sandbox process then exited with code ${outcome.code} before the code returned a result.`,
          },
          resources: resources(limit.reason, outcome.code),
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

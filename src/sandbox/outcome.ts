import type { Policy } from '../config/policy.js';
import type { ErrorInfo, ExecutionResult, ExitReason } from '../core/index.js';
import type { ContainerUsage } from '../docker/index.js';
import type { ResultMessage } from '../proxy/index.js';
import { mapCodePositions, type PositionMap } from '../wrap/index.js';
import { explainDenials, hideMainFrame, type ErrorTextContext } from './error-text.js';
import { readReturnValue } from './result-value.js';

/** How a run ended, as the host saw it. */
export type RunOutcome =
  | { kind: 'result'; message: ResultMessage }
  | { kind: 'exited'; code: number; oomKilled: boolean }
  | { kind: 'timeout' }
  | { kind: 'violation'; message: string }
  | { kind: 'cancelled'; why: string };

/** Everything the result is made of: the outcome and the host-side facts read around it. */
export interface RunFacts extends ErrorTextContext {
  outcome: RunOutcome;
  usage: ContainerUsage | undefined;
  /** CPU time the run used (the cgroup's counter from delivery to result); undefined when the host cannot see it */
  cpuMs: number | undefined;
  stdout: string;
  stderr: string;
  truncated: { stdout: boolean; stderr: boolean };
  durationMs: number;
  timeoutMs: number;
  /** how the module's positions map back to the user's code (for stacks and stderr) */
  positions: PositionMap;
  policy: Pick<Policy, 'container' | 'limits'>;
  /** the workspace's own filesystem size, when it has a quota */
  workspaceQuotaMb?: number;
}

/** Error text and stderr as the model reads them: the user's columns, no wrapper frame, denials it can act on. */
function userText(text: string, f: RunFacts): string {
  return explainDenials(hideMainFrame(mapCodePositions(text, f.positions)), f);
}

/** V8's heap limit aborts the process (SIGTRAP, 128 + 5); the cgroup's OOM kill is the engine's OOMKilled. */
export const EXIT_V8_OUT_OF_MEMORY = 133;

interface Limit {
  reason: ExitReason;
  name: string;
  what: string;
}

/** A full mount with its limit, as the model reads it: `/tmp is full (its limit is 64 MB)`. */
function fullMount(mount: string, f: RunFacts): string {
  if (mount === '/workspace' && f.workspaceQuotaMb !== undefined)
    return `/workspace is full (its quota is ${f.workspaceQuotaMb} MB)`;
  return `${mount} is full (its limit is ${f.policy.container.tmpfsMb} MB)`;
}

/** A limit the host saw reached during a failed run, named for the model; undefined when none was. */
function limitReached(f: RunFacts): Limit | undefined {
  const { usage } = f;
  const { container } = f.policy;
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
      what: `${usage.fullMounts.map((m) => fullMount(m, f)).join(' and ')}: writing more fails with "No space left on device".`,
    };
  }
  return undefined;
}

type Failure = { error: ErrorInfo; exitReason: ExitReason; exitCode: number | null; status?: 'timeout' };

/** Why a run that produced no value failed, in the words the model reads. */
function failureOf(f: RunFacts, limit: Limit | undefined): Failure {
  const { outcome } = f;
  const fix = (text: string) => userText(text, f);
  switch (outcome.kind) {
    case 'result': {
      if (outcome.message.ok) throw new Error('a successful result is no failure');
      const { name, message, stack } = outcome.message.error;
      const stackPart = stack ? { stack: fix(stack) } : {};
      if (limit) {
        const text = `${limit.what} The code failed with ${name}: ${fix(message)}`;
        return {
          error: { name: limit.name, message: text, ...stackPart },
          exitReason: limit.reason,
          exitCode: null,
        };
      }
      return {
        error: { name, message: fix(message), ...stackPart },
        exitReason: 'exception',
        exitCode: null,
      };
    }
    case 'timeout': {
      const message = `The code did not finish within ${f.timeoutMs} ms and was killed.${limit ? ` ${limit.what}` : ''}`;
      return {
        error: { name: 'TimeoutError', message },
        exitReason: 'timeout',
        exitCode: null,
        status: 'timeout',
      };
    }
    case 'cancelled':
      return {
        error: { name: 'CancelledError', message: `The execution was stopped: ${outcome.why}` },
        exitReason: 'cancelled',
        exitCode: null,
      };
    case 'violation': {
      const message = `The sandbox broke the conductor protocol and was killed (${outcome.message}).`;
      return { error: { name: 'SandboxError', message }, exitReason: 'killed', exitCode: null };
    }
    case 'exited': {
      const { code } = outcome;
      // Only the engine's OOM state and V8's own abort count: what the code printed proves nothing.
      if (outcome.oomKilled || code === EXIT_V8_OUT_OF_MEMORY) {
        const message = `The code ran out of memory (limit ${f.policy.container.memoryMb} MB) and was killed.`;
        return { error: { name: 'OutOfMemoryError', message }, exitReason: 'out_of_memory', exitCode: code };
      }
      if (limit) {
        const message = `${limit.what} The sandbox process then exited with code ${code} before the code returned a result.`;
        return { error: { name: limit.name, message }, exitReason: limit.reason, exitCode: code };
      }
      const message = `The sandbox process exited with code ${code} before the code returned a result (for example through Deno.exit()).`;
      return { error: { name: 'ExitError', message }, exitReason: 'exited', exitCode: code };
    }
  }
}

/**
 * The result the model reads, from host-side facts only: the result frame, the engine's exit code and OOM state, our
 * own deadline and signal, the container's cgroup (peak memory, the pids limit) and its tmpfs — never from what the
 * code printed or threw. A limit is named only when the run failed.
 */
export function toExecutionResult(f: RunFacts): ExecutionResult {
  const base = {
    stdout: f.stdout,
    stderr: userText(f.stderr, f),
    durationMs: f.durationMs,
    truncated: { ...f.truncated, returnValue: false },
  };
  const resources = (exitReason: ExitReason, exitCode: number | null) => ({
    exitReason,
    // Omitted, not null, when the process did not exit on its own: the output schema has no type arrays.
    ...(exitCode !== null ? { exitCode } : {}),
    ...(f.usage?.peakMemoryBytes !== undefined ? { peakMemoryBytes: f.usage.peakMemoryBytes } : {}),
    ...(f.cpuMs !== undefined ? { cpuMs: f.cpuMs } : {}),
  });
  const { outcome } = f;
  if (outcome.kind === 'result' && outcome.message.ok) {
    const m = outcome.message;
    const read = readReturnValue(m, f.policy.limits.maxReturnBytes);
    if (!read.ok) {
      // Not what the runtime sends: the code wrote on its connection. A clear failure, never a crash.
      return {
        ...base,
        status: 'error',
        error: {
          name: 'SandboxError',
          message: `The sandbox sent a malformed result and was stopped: ${read.reason}.`,
        },
        resources: resources('killed', null),
      };
    }
    return {
      ...base,
      status: 'success',
      ...(m.value !== undefined ? { returnValue: read.value } : {}),
      truncated: { ...base.truncated, returnValue: m.valueTruncated },
      resources: resources('completed', null),
    };
  }
  const failed = failureOf(f, limitReached(f));
  return {
    ...base,
    status: failed.status ?? 'error',
    error: failed.error,
    resources: resources(failed.exitReason, failed.exitCode),
  };
}

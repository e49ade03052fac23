import type { ExecutionResult } from '../core/index.js';
import type { ContainerUsage, DockerPort } from '../docker/index.js';
import {
  isProtocolViolation,
  type CallHandler,
  type PlaybookSource,
  type RunGlobals,
} from '../proxy/index.js';
import { toExecutionResult, type RunOutcome } from './outcome.js';
import type { PreparedSandbox } from './prepared.js';
import type { PositionMap } from '../wrap/index.js';
import { mountsWorkspace, WORKSPACE_IN_CONTAINER } from './profile.js';
import { isWorkspaceFull } from './workspace-full.js';

export interface RunOptions {
  module: string;
  /** how the module's positions map back to the user's code (for stacks and stderr) */
  positions: PositionMap;
  timeoutMs: number;
  calls: CallHandler;
  /** what importPlaybook(name) reads from; without one, it fails saying playbooks are not available */
  playbooks?: PlaybookSource;
  /** stops the run wherever it is (a cancellation, the conductor's shutdown); the deadline is the run's own */
  signal?: AbortSignal;
  /** how much of a return value past maxReturnBytes the runtime sends, in pieces, to `onValuePart` (0: none) */
  retainBytes?: number;
  onValuePart?: (text: string) => void;
}

/** How long the host waits for the last output once the outcome is known. */
const OUTPUT_SETTLE_MS = 1000;
/** The tmpfs the container gets (see container-spec.ts); the host checks whether it filled up. */
const TMPFS_MOUNTS = ['/tmp'];

/** The globals the code sees: WORKSPACE_DIR only when a workspace is mounted, PERMISSIONS as granted. */
function runGlobals(profile: PreparedSandbox['profile']): RunGlobals {
  return {
    workspaceDir: mountsWorkspace(profile) ? WORKSPACE_IN_CONTAINER : null,
    permissions: profile.permissions,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'it was cancelled';
}

/** Resolves when the signal fires (never, without one), with the outcome that means; `stop` removes the listener. */
function whenAborted(signal: AbortSignal | undefined): { outcome: Promise<RunOutcome>; stop: () => void } {
  if (!signal) return { outcome: new Promise(() => {}), stop: () => {} };
  let stop = () => {};
  const outcome = new Promise<RunOutcome>((resolve) => {
    const onAbort = () => resolve({ kind: 'cancelled', why: reasonText(signal.reason) });
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    stop = () => signal.removeEventListener('abort', onAbort);
  });
  return { outcome, stop };
}

/**
 * Delivers the code to a prepared sandbox, races the result against the exit, the deadline and the signal, and
 * gathers the host-side facts the result is made of (outcome.ts maps them). The container is not removed here:
 * the caller answers first and cleans up off the response path.
 */
export async function runInSandbox(
  docker: DockerPort,
  sandbox: PreparedSandbox,
  opts: RunOptions,
): Promise<ExecutionResult> {
  const started = performance.now();
  const { maxReturnBytes } = sandbox.profile.policy.limits;
  // Read once, as early as possible while the container is alive: its cgroup goes with its last process, so a later
  // reading would only know less. Whether /tmp (or a workspace with a quota) filled up matters only to a failed run;
  // a success skips the statfs.
  let reading: Promise<ContainerUsage | undefined> | undefined;
  const readUsage = (failed: boolean) =>
    (reading ??= Promise.all([
      docker.readUsage(sandbox.containerId, failed ? TMPFS_MOUNTS : []),
      failed && sandbox.profile.workspaceQuotaMb !== undefined && sandbox.profile.workspaceDir
        ? isWorkspaceFull(sandbox.profile.workspaceDir)
        : false,
    ])
      .then(([usage, workspaceFull]) =>
        workspaceFull ? { ...usage, fullMounts: [...usage.fullMounts, '/workspace'] } : usage,
      )
      .catch(() => undefined));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<RunOutcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'timeout' }), opts.timeoutMs);
  });
  // CPU is counted from the delivery on: a pooled container spent some starting up, which is not this run's. Read
  // beside the delivery, not before it, so the caller never waits for it.
  const cpuBefore = docker.readCpuNs(sandbox.containerId).catch(() => undefined);
  const aborted = whenAborted(opts.signal);
  const exited = sandbox.exited.then((code): RunOutcome => ({ kind: 'exited', code, oomKilled: false }));
  const delivered = sandbox.socket
    .run(
      {
        t: 'run',
        code: opts.module,
        nonce: sandbox.nonce,
        maxReturnBytes,
        retainBytes: opts.retainBytes ?? 0,
        globals: runGlobals(sandbox.profile),
      },
      opts.calls,
      opts.onValuePart,
      opts.playbooks,
    )
    .then(
      (message): RunOutcome => ({ kind: 'result', message }),
      // The link closes as the process dies, before the engine reports the exit and removes the cgroup: read it
      // now, and let the exit win when it is about to be reported.
      async (error: unknown): Promise<RunOutcome> => {
        await readUsage(true);
        const code = await Promise.race([sandbox.exited, sleep(2000).then(() => undefined)]);
        if (code !== undefined) return { kind: 'exited', code, oomKilled: false };
        return {
          kind: 'violation',
          message: isProtocolViolation(error) ? (error as Error).message : String(error),
        };
      },
    );
  let outcome = await Promise.race([delivered, exited, deadline, aborted.outcome]);
  clearTimeout(timer);
  aborted.stop();
  const durationMs = Math.round(performance.now() - started);
  const usage = await readUsage(outcome.kind !== 'result' || !outcome.message.ok);
  const before = await cpuBefore;
  const cpuMs =
    usage?.cpuNs !== undefined && before !== undefined
      ? Math.max(0, Math.round((usage.cpuNs - before) / 1e6))
      : undefined;

  if (outcome.kind === 'result') {
    // The runtime waits for the host to close the link after its result (so the reading above could happen).
    void sandbox.socket.close().catch(() => undefined);
    await Promise.race([
      Promise.all([sandbox.stdout.markerSeen, sandbox.stderr.markerSeen]),
      sandbox.streamEnded,
      sleep(OUTPUT_SETTLE_MS),
    ]);
  } else {
    if (outcome.kind !== 'exited') {
      // SIGKILL: Deno as PID 1 or with a SIGTERM listener would ignore a polite stop. Removal comes later, off the
      // caller's path (the executor disposes of every sandbox after answering).
      await docker.kill(sandbox.containerId);
    } else {
      const state = await docker.inspectContainer(sandbox.containerId);
      outcome = { ...outcome, oomKilled: state?.oomKilled === true };
    }
    await Promise.race([sandbox.streamEnded, sleep(OUTPUT_SETTLE_MS)]);
  }
  sandbox.stdout.flush();
  sandbox.stderr.flush();

  return toExecutionResult({
    outcome,
    usage,
    cpuMs,
    stdout: sandbox.stdout.text(),
    stderr: sandbox.stderr.text(),
    truncated: { stdout: sandbox.stdout.truncated, stderr: sandbox.stderr.truncated },
    durationMs,
    timeoutMs: opts.timeoutMs,
    positions: opts.positions,
    policy: sandbox.profile.policy,
    workspaceQuotaMb: sandbox.profile.workspaceQuotaMb,
    permissions: sandbox.profile.permissions,
    egressHosts: sandbox.profile.egress?.rules.map((r) => r.entry),
  });
}

import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { CancelledError, DockerUnavailableError, SandboxError } from '../core/index.js';
import { containerLabels, createDemuxer, type DockerPort } from '../docker/index.js';
import { createEgressGateway, EGRESS_SOCKET_NAME, type EgressGateway } from '../egress/index.js';
import type { Logger } from '../obs/index.js';
import {
  createExecutionSocket,
  endMarker,
  PROGRESS_MIN_INTERVAL_MS,
  VALUE_PART_CHARS,
  type ExecutionSocket,
} from '../proxy/index.js';
import { containerSpec, sandboxUser } from './container-spec.js';
import type { ContainerLease } from './limiter.js';
import { createOutputCollector, type OutputCollector } from './output.js';
import type { SandboxProfile } from './profile.js';

/**
 * A started container whose runtime has connected and is waiting for code. It knows nothing of the execution it
 * will serve, so it can be made ahead of time (the warm pool) and is used exactly once.
 */
export interface PreparedSandbox {
  readonly containerId: string;
  readonly executionId: string;
  readonly profile: SandboxProfile;
  readonly socket: ExecutionSocket;
  /** the egress gateway on its own socket beside `socket`, when the policy has egress; serves nobody until opened */
  readonly egress: EgressGateway | undefined;
  readonly nonce: string;
  readonly stdout: OutputCollector;
  readonly stderr: OutputCollector;
  /**
   * Resolves with the exit code when the container exits; rejects (DockerUnavailableError) when the engine stops
   * answering, after which the container's fate is unknown and it must not be used. Always has a handler attached.
   */
  readonly exited: Promise<number>;
  /** resolves when the attach stream has ended (all output received) */
  readonly streamEnded: Promise<void>;
  readonly createdAt: number;
  /** this container's place in the container budget, given back once it is removed */
  readonly lease: ContainerLease | undefined;
}

export interface PrepareDeps {
  docker: DockerPort;
  logger: Logger;
  instanceId: string;
  socketBaseDir: string;
  startupTimeoutMs: number;
  /** what goes into the owner label, so reap can tell a dead conductor from a live one */
  ownerToken: string;
  /** the container the conductor runs in on this engine, if any (labelled, so reap can ask the engine about it) */
  ownContainerId?: string;
}

function frameLimit(profile: SandboxProfile): number {
  // The result is JSON text inside a JSON string: escaping can grow it up to 6x.
  return profile.policy.limits.maxReturnBytes * 6 + 1024 * 1024;
}

/** The container's output: demuxed from the attach stream into two capped collectors. */
async function attachOutput(docker: DockerPort, containerId: string, profile: SandboxProfile, nonce: string) {
  const marker = Buffer.from(endMarker(nonce));
  const maxOutput = profile.policy.limits.maxOutputBytes;
  const stdout = createOutputCollector(maxOutput, marker);
  const stderr = createOutputCollector(maxOutput, marker);
  const stream = await docker.attach(containerId);
  const demux = createDemuxer((kind, data) => (kind === 'stdout' ? stdout : stderr).push(data));
  stream.on('data', (chunk: Buffer) => demux.push(chunk));
  const streamEnded = new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
  return { stream, stdout, stderr, streamEnded };
}

/**
 * Resolves once the runtime said hello; rejects when the container exits first (with what it said on stderr) or
 * the start-up time is over. Every promise here gets a handler where it is made: Node exits on an unhandled
 * rejection, and the engine can go away long after the race is over.
 */
async function untilReady(
  socket: ExecutionSocket,
  exited: Promise<number>,
  output: { stderr: OutputCollector; streamEnded: Promise<void> },
  startupTimeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort = () => {};
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(notNeeded());
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  aborted.catch(() => undefined);
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new SandboxError(`the sandbox did not become ready within ${startupTimeoutMs} ms`)),
      startupTimeoutMs,
    );
  });
  timedOut.catch(() => undefined);
  const exitedEarly = exited.then(async (code) => {
    await Promise.race([output.streamEnded, new Promise((r) => setTimeout(r, 500))]);
    const said = output.stderr.text().slice(0, 500).trim();
    throw new SandboxError(
      `the sandbox exited during start-up (code ${code}): ${said || 'no output; the container runtime could not start it (check the policy limits and `mcp-conductor doctor`)'}`,
    );
  });
  exitedEarly.catch(() => undefined);
  try {
    await Promise.race([socket.ready, exitedEarly, timedOut, aborted]);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

const notNeeded = () => new CancelledError('The sandbox was no longer needed.');

/** Between the engine's steps: a sandbox nobody waits for any more is undone at once, not finished first. */
function throwIfStopped(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw notNeeded();
}

/**
 * Makes a started, connected sandbox. The lease (if any) is given back here on failure, else by disposeSandbox.
 * When `signal` fires first (the caller gave up, the conductor is closing), what was made so far is removed and the
 * promise rejects with a CancelledError; an engine call already under way is awaited, then undone.
 */
export async function prepareSandbox(
  deps: PrepareDeps,
  profile: SandboxProfile,
  lease?: ContainerLease,
  signal?: AbortSignal,
): Promise<PreparedSandbox> {
  const executionId = randomUUID();
  const { limits } = profile.policy;
  const log = deps.logger.child({ executionId });
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  let socket: ExecutionSocket;
  try {
    throwIfStopped(signal);
    socket = await createExecutionSocket({
      baseDir: deps.socketBaseDir,
      maxFrameBytes: frameLimit(profile),
      helloTimeoutMs: deps.startupTimeoutMs,
      sandboxUid: sandboxUser().uid,
      // Every message counts: the policy's calls plus headroom for list/load and refused ones, the pieces of a
      // return value past its cap (64 Ki characters each, so at most one per 64 KiB kept), and the progress reports
      // the runtime may send through the longest run.
      maxMessages:
        limits.maxMcpCalls * 2 +
        1000 +
        Math.ceil(limits.maxRetainedBytes / VALUE_PART_CHARS) +
        Math.ceil(limits.maxTimeoutMs / PROGRESS_MIN_INTERVAL_MS),
    });
  } catch (error) {
    lease?.release();
    throw error;
  }
  let containerId: string | undefined;
  let stream: Duplex | undefined;
  let egress: EgressGateway | undefined;
  try {
    if (profile.egress) {
      egress = createEgressGateway(profile.egress);
      await egress.listen(join(socket.dir, EGRESS_SOCKET_NAME), sandboxUser().uid);
    }
    const name = `mcp-conductor-${deps.instanceId.slice(0, 8)}-${executionId.slice(0, 12)}`;
    const labels = containerLabels({
      instanceId: deps.instanceId,
      executionId,
      tenant: profile.tenant,
      socketDir: socket.dir,
      host: hostname(),
      pid: process.pid,
      owner: deps.ownerToken,
      ownerContainer: deps.ownContainerId,
    });
    throwIfStopped(signal);
    containerId = await deps.docker.createContainer(
      containerSpec(profile, socket.dir, name, labels, egress?.placeholders),
    );
    log.debug({ step: 'create', ms: ms() }, 'container created');
    throwIfStopped(signal);
    const nonce = randomBytes(16).toString('hex');
    const output = await attachOutput(deps.docker, containerId, profile, nonce);
    stream = output.stream;
    const exited = deps.docker.wait(containerId);
    exited.catch(() => undefined);
    throwIfStopped(signal);
    await deps.docker.start(containerId);
    log.debug({ step: 'start', ms: ms() }, 'container started');
    await untilReady(socket, exited, output, deps.startupTimeoutMs, signal);
    log.debug({ step: 'ready', ms: ms() }, 'sandbox runtime connected');
    const { stdout, stderr, streamEnded } = output;
    return {
      containerId,
      executionId,
      profile,
      socket,
      egress,
      nonce,
      stdout,
      stderr,
      exited,
      streamEnded,
      createdAt: Date.now(),
      lease,
    };
  } catch (error) {
    stream?.destroy();
    try {
      if (containerId) await deps.docker.remove(containerId).catch(() => undefined);
      await egress?.close();
      await socket.close();
    } finally {
      lease?.release();
    }
    throw error;
  }
}

/**
 * Kills and removes the container and its socket directory, then gives its place in the budget back. Idempotent.
 * When the engine cannot remove it, the place is given back anyway, so an engine outage cannot shrink the budget for
 * good; what is left is reaped by this conductor's close (by instance label) or by the next start-up.
 */
export async function disposeSandbox(docker: DockerPort, sandbox: PreparedSandbox): Promise<void> {
  try {
    await docker.remove(sandbox.containerId);
  } catch (error) {
    if (error instanceof DockerUnavailableError) removeLater(docker, sandbox.containerId);
    throw error;
  } finally {
    try {
      await sandbox.egress?.close();
      await sandbox.socket.close();
    } finally {
      sandbox.lease?.release();
    }
  }
}

/**
 * Retries a removal the engine could not be asked for (2 s, doubling, for about two minutes), so containers left
 * during an outage go when the engine returns rather than at shutdown. The timers never keep the process alive.
 */
function removeLater(docker: DockerPort, id: string, delayMs = 2000): void {
  setTimeout(() => {
    docker.remove(id).catch((error: unknown) => {
      if (error instanceof DockerUnavailableError && delayMs < 60_000) removeLater(docker, id, delayMs * 2);
    });
  }, delayMs).unref();
}

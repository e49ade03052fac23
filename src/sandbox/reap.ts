import { readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import {
  LABEL_HOST,
  LABEL_INSTANCE,
  LABEL_OWNER,
  LABEL_OWNER_CONTAINER,
  LABEL_PID,
  LABEL_SOCKET_DIR,
  type DockerPort,
  type ManagedContainer,
} from '../docker/index.js';
import { DockerUnavailableError } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import { removeSocketDir } from '../proxy/index.js';

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
function startTicks(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function bootId(): string | undefined {
  return readOr('/proc/sys/kernel/random/boot_id')?.trim();
}

/** Identifies this process across pid reuse and reboots: `<boot id>:<pid>:<start ticks>`, or '' without /proc. */
export function ownerToken(pid = process.pid): string {
  const boot = bootId();
  const ticks = startTicks(pid);
  return boot && ticks ? `${boot}:${pid}:${ticks}` : '';
}

/** What the engine says of conductors that run in its containers: this process's own, and those still running. */
export interface OwnerContainers {
  own?: string;
  running: ReadonlySet<string>;
}

/**
 * Whether the conductor that made a container may still be running. One in another container of this engine runs
 * as long as the engine says that container does. A conductor on another host is assumed alive (conductors sharing
 * an engine must have distinct host names, Docker's default). On this host, the owner token decides: another boot
 * means dead; otherwise the pid must run and have started at the same tick. A conductor restarted in its container
 * is pid 1 again, but not from the same tick.
 */
export function isOwnerAlive(labels: Record<string, string>, containers?: OwnerContainers): boolean {
  const container = labels[LABEL_OWNER_CONTAINER];
  if (container && container !== containers?.own) return containers?.running.has(container) ?? true;
  if (labels[LABEL_HOST] !== hostname()) return true;
  const alive = isOwnerTokenAlive(labels[LABEL_OWNER]);
  if (alive !== undefined) return alive;
  // Containers labelled before the owner token, or made where /proc is missing: the pid is all there is.
  const pid = Number(labels[LABEL_PID]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the process an owner token (of this host) names still runs: the same boot, the pid running, started at
 * the same tick. Undefined when the token is not one (empty, or made where /proc is missing).
 */
export function isOwnerTokenAlive(token: string | undefined): boolean | undefined {
  const owner = token?.split(':');
  if (owner?.length !== 3) return undefined;
  const [boot, pid, ticks] = owner;
  if (boot !== bootId()) return false;
  return /^\d+$/.test(pid!) && startTicks(Number(pid)) === ticks;
}

export interface ReapOptions {
  /** only containers whose conductor process is gone; otherwise all that match */
  onlyDead?: boolean;
  /** only containers of this conductor instance; otherwise every managed container */
  instanceId?: string;
  /** socket directories are only removed when they sit under this directory */
  socketBaseDir: string;
  /** the container this conductor runs in, if any (its own leftovers are judged by the owner token) */
  ownContainerId?: string;
  /**
   * Also remove socket directories no container refers to once they are this old. A live conductor makes the
   * directory just before its container, so a fresh one may simply not have its container yet. Default 60 s.
   */
  orphanDirAgeMs?: number;
  /** told about each entry that could not be removed (reaping goes on with the next) */
  logger?: Pick<Logger, 'warn'>;
}

function isUnder(dir: string, base: string): boolean {
  return isAbsolute(dir) && dir.startsWith(`${base}/`) && !dir.includes('..');
}

/**
 * Removes containers (and their socket directories) left by a conductor that died. Returns how many containers.
 * One entry that cannot be removed (a container the engine refuses, a directory that resists) is logged and skipped:
 * it must never block the rest, nor the start-up of `stdio` and `serve`, which reap first. Only an engine that does
 * not answer stops it, since then nothing else could be removed either.
 */
export async function reap(
  docker: Pick<DockerPort, 'listManaged' | 'remove' | 'inspectContainer'>,
  opts: ReapOptions,
): Promise<number> {
  const filter: Record<string, string> = opts.instanceId ? { [LABEL_INSTANCE]: opts.instanceId } : {};
  const found = await docker.listManaged(filter);
  const owners = opts.onlyDead
    ? await ownerContainers(
        docker,
        found.map((c) => c.labels),
        opts.ownContainerId,
      )
    : undefined;
  let removed = 0;
  for (const c of found) {
    if (opts.onlyDead && isOwnerAlive(c.labels, owners)) continue;
    try {
      await docker.remove(c.id);
      removed++;
    } catch (error) {
      if (error instanceof DockerUnavailableError) throw error;
      opts.logger?.warn({ err: error, containerId: c.id }, 'could not remove a leftover container');
      continue;
    }
    const dir = c.labels[LABEL_SOCKET_DIR];
    // A label is data from the engine: only ever delete inside our own socket base directory.
    if (dir && isUnder(dir, opts.socketBaseDir)) await removeDir(dir, opts.logger);
  }
  // Unfiltered, `found` is every managed container: the directories it names are the ones in use (those of the
  // containers removed above are gone already; one made since is younger than the minimum age).
  if (!opts.instanceId) await sweepOrphanDirs(found, opts);
  return removed;
}

async function removeDir(dir: string, logger: ReapOptions['logger']): Promise<void> {
  try {
    await removeSocketDir(dir);
  } catch (error) {
    logger?.warn({ err: error, dir }, 'could not remove a leftover socket directory');
  }
}

/**
 * isOwnerAlive for the owner labels of something other than a container (a retained-output directory), asking the
 * engine about the owner's container as reap does: the same answer for the same owner.
 */
export async function isOwnerAliveOnEngine(
  docker: Pick<DockerPort, 'inspectContainer'>,
  labels: Record<string, string>,
  ownContainerId: string | undefined,
): Promise<boolean> {
  return isOwnerAlive(labels, await ownerContainers(docker, [labels], ownContainerId));
}

/** Asks the engine, once per owner, which conductors' containers (other than this one's) still run. */
async function ownerContainers(
  docker: Pick<DockerPort, 'inspectContainer'>,
  labelSets: readonly Record<string, string>[],
  own: string | undefined,
): Promise<OwnerContainers> {
  const ids = new Set(
    labelSets.map((l) => l[LABEL_OWNER_CONTAINER]).filter((id): id is string => !!id && id !== own),
  );
  const running = new Set<string>();
  for (const id of ids) if ((await docker.inspectContainer(id))?.running) running.add(id);
  return { own, running };
}

/** Socket directories whose container is gone (a conductor killed between making the two, or during removal). */
async function sweepOrphanDirs(containers: readonly ManagedContainer[], opts: ReapOptions): Promise<void> {
  const base = opts.socketBaseDir;
  const minAgeMs = opts.orphanDirAgeMs ?? 60_000;
  const names = await readdir(base).catch(() => [] as string[]);
  if (names.length === 0) return;
  const inUse = new Set(containers.map((c) => c.labels[LABEL_SOCKET_DIR]));
  const now = Date.now();
  for (const name of names) {
    const dir = join(base, name);
    if (!name.startsWith('x-') || inUse.has(dir)) continue;
    const st = await lstat(dir).catch(() => undefined);
    if (st?.isDirectory() && now - st.mtimeMs >= minAgeMs) await removeDir(dir, opts.logger);
  }
}

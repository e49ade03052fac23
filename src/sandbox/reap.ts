import { rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { hostname } from 'node:os';
import { LABEL_HOST, LABEL_INSTANCE, LABEL_PID, LABEL_SOCKET_DIR, type DockerPort } from '../docker/index.js';

/** A conductor on another host, or one whose pid still runs here, is treated as alive. */
function isOwnerAlive(labels: Record<string, string>): boolean {
  if (labels[LABEL_HOST] !== hostname()) return true;
  const pid = Number(labels[LABEL_PID]);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface ReapOptions {
  /** only containers whose conductor process is gone (same host, pid not alive); otherwise all that match */
  onlyDead?: boolean;
  /** only containers of this conductor instance; otherwise every managed container */
  instanceId?: string;
  /** keep containers of this (live) instance */
  exceptInstanceId?: string;
  /** socket directories are only removed when they sit under this directory */
  socketBaseDir: string;
}

/** Removes containers (and their socket directories) left by a conductor that died. Returns how many. */
export async function reap(docker: DockerPort, opts: ReapOptions): Promise<number> {
  const filter: Record<string, string> = opts.instanceId ? { [LABEL_INSTANCE]: opts.instanceId } : {};
  const found = await docker.listManaged(filter);
  let removed = 0;
  for (const c of found) {
    if (opts.exceptInstanceId && c.labels[LABEL_INSTANCE] === opts.exceptInstanceId) continue;
    if (opts.onlyDead && isOwnerAlive(c.labels)) continue;
    await docker.remove(c.id);
    removed++;
    const dir = c.labels[LABEL_SOCKET_DIR];
    // A label is data from the engine: only ever delete inside our own socket base directory.
    if (dir && isAbsolute(dir) && dir.startsWith(`${opts.socketBaseDir}/`) && !dir.includes('..')) {
      await rm(dir, { recursive: true, force: true });
    }
  }
  return removed;
}

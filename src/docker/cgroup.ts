import { readFile, statfs } from 'node:fs/promises';

/**
 * What the host can read about a live container from its cgroup and mounts, without asking the engine: Docker's
 * stats API waits for its collector tick (about a second after the first call), too slow for every execution, while
 * these files answer at once. Everything is read while the container is alive (its cgroup goes when it exits); a
 * field is absent when the host cannot see it (another cgroup layout, a conductor that is not root, gVisor's own
 * tmpfs), never guessed.
 */
export interface ContainerUsage {
  /** the memory cgroup's high-water mark (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`) */
  peakMemoryBytes?: number;
  /** CPU time the container's processes have used so far, user and system (v1 `cpuacct.usage`, v2 `cpu.stat`) */
  cpuNs?: number;
  /** true when a fork or thread creation was refused by the pids limit (the `max` counter of `pids.events`) */
  pidsLimitReached?: boolean;
  /** of the mount points asked about, those with no space or no inodes left */
  fullMounts: string[];
}

const CGROUP_ROOT = '/sys/fs/cgroup';
/** Engine container ids are hex; anything else would make the paths below point elsewhere. */
const CONTAINER_ID = /^[0-9a-f]{12,64}$/;

/** Where the engine puts a container's cgroup, per layout: v1 cgroupfs, v1 systemd, v2 systemd, v2 cgroupfs. */
function candidateDirs(controller: string, id: string): string[] {
  return [
    `${CGROUP_ROOT}/${controller}/docker/${id}`,
    `${CGROUP_ROOT}/${controller}/system.slice/docker-${id}.scope`,
    `${CGROUP_ROOT}/system.slice/docker-${id}.scope`,
    `${CGROUP_ROOT}/docker/${id}`,
  ];
}

const PEAK_FILES = ['memory.max_usage_in_bytes', 'memory.max_usage_in_bytes', 'memory.peak', 'memory.peak'];

async function readFirst(paths: string[]): Promise<string | undefined> {
  for (const path of paths) {
    try {
      return await readFile(path, 'utf8');
    } catch {
      // Not this layout (or not readable): try the next.
    }
  }
  return undefined;
}

async function readPeakMemory(id: string): Promise<number | undefined> {
  const dirs = candidateDirs('memory', id);
  const text = await readFirst(dirs.map((d, i) => `${d}/${PEAK_FILES[i]}`));
  const bytes = Number(text?.trim());
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** v1 `cpuacct.usage` is nanoseconds; v2 `cpu.stat` has a `usage_usec` line. */
const CPU_FILES = ['cpuacct.usage', 'cpuacct.usage', 'cpu.stat', 'cpu.stat'];

/** The container's CPU time so far, in nanoseconds; undefined when its cgroup is not readable here. */
export async function readCpuNs(id: string): Promise<number | undefined> {
  if (!CONTAINER_ID.test(id)) return undefined;
  const text = await readFirst(candidateDirs('cpuacct', id).map((d, i) => `${d}/${CPU_FILES[i]}`));
  if (text === undefined) return undefined;
  const v2 = /^usage_usec (\d+)$/m.exec(text);
  const ns = v2 ? Number(v2[1]) * 1000 : Number(text.trim());
  return Number.isSafeInteger(ns) && ns >= 0 ? ns : undefined;
}

async function readPidsLimitReached(id: string): Promise<boolean | undefined> {
  const text = await readFirst(candidateDirs('pids', id).map((d) => `${d}/pids.events`));
  const max = /^max (\d+)$/m.exec(text ?? '');
  return max ? Number(max[1]) > 0 : undefined;
}

/** The container's processes as the host numbers them (its init first). */
async function containerPids(id: string): Promise<number[]> {
  const text = await readFirst(candidateDirs('pids', id).map((d) => `${d}/cgroup.procs`));
  return (text ?? '')
    .split('\n')
    .map(Number)
    .filter((n) => Number.isSafeInteger(n) && n > 0);
}

const TMPFS_MAGIC = 0x01021994;

/**
 * A tmpfs is full when a write would fail with ENOSPC: blocks or inodes exhausted. Read through a process of the
 * container (`/proc/<pid>/root`), which needs the conductor to be root; gVisor keeps its tmpfs inside its own kernel,
 * where the host sees no tmpfs at that path, so nothing is reported there.
 */
async function fullMounts(id: string, mounts: string[]): Promise<string[]> {
  if (mounts.length === 0) return [];
  for (const pid of await containerPids(id)) {
    try {
      const full: string[] = [];
      for (const mount of mounts) {
        const s = await statfs(`/proc/${pid}/root${mount}`);
        if (s.type !== TMPFS_MAGIC) throw new Error('not the container tmpfs');
        const freeBytes = s.bfree * s.bsize;
        const sizeBytes = s.blocks * s.bsize;
        // A write loop stops with up to a page or a partly filled chunk left; an inode table can run out too.
        if (freeBytes < Math.max(64 * 1024, sizeBytes / 100) || s.ffree === 0) full.push(mount);
      }
      return full;
    } catch {
      // This process is gone, its root is not visible to us, or it is not the runtime's: try the next.
    }
  }
  return [];
}

export async function readContainerUsage(id: string, mounts: string[] = []): Promise<ContainerUsage> {
  if (!CONTAINER_ID.test(id)) return { fullMounts: [] };
  const [peakMemoryBytes, cpuNs, pidsLimitReached, full] = await Promise.all([
    readPeakMemory(id),
    readCpuNs(id),
    readPidsLimitReached(id),
    fullMounts(id, mounts),
  ]);
  return {
    ...(peakMemoryBytes !== undefined ? { peakMemoryBytes } : {}),
    ...(cpuNs !== undefined ? { cpuNs } : {}),
    ...(pidsLimitReached !== undefined ? { pidsLimitReached } : {}),
    fullMounts: full,
  };
}

import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { posix } from 'node:path';
import { ConfigError } from '../core/index.js';
import type { ContainerMount, DockerPort } from './port.js';

/**
 * The container this conductor runs in, as the engine it talks to knows it. A conductor in a container asks the
 * engine for bind mounts the engine resolves on the host: every path it hands over (socket directories, the
 * workspace) must be the same path there, and containers it made outlive it only as long as the engine says it runs.
 */
export interface OwnContainer {
  id: string;
  mounts: ContainerMount[];
}

const ID = '[0-9a-f]{64}';

/**
 * Container ids this process may run in, from /proc/self/mountinfo (the engine bind-mounts
 * `…/containers/<id>/hostname`, `hosts` and `resolv.conf`, on cgroup v1 and v2 alike) and /proc/self/cgroup (v1, or
 * v2 without a private cgroup namespace). Candidates only: the engine confirms.
 */
export function containerIdCandidates(mountinfo: string, cgroup: string): string[] {
  const ids = new Set<string>();
  for (const m of mountinfo.matchAll(
    new RegExp(`/containers/(${ID})/(?:hostname|hosts|resolv\\.conf) `, 'g'),
  ))
    ids.add(m[1]!);
  for (const m of cgroup.matchAll(new RegExp(`(?:/docker/|docker-)(${ID})(?:\\.scope)?$`, 'gm')))
    ids.add(m[1]!);
  return [...ids];
}

export type ReadText = (path: string) => Promise<string>;
const readProc: ReadText = (path) => readFile(path, 'utf8');

/** The candidates for this process, from its own /proc files (none outside a container, or without /proc). */
export async function ownContainerCandidates(read: ReadText = readProc): Promise<string[]> {
  const text = (path: string) => read(path).catch(() => '');
  return containerIdCandidates(await text('/proc/self/mountinfo'), await text('/proc/self/cgroup'));
}

/**
 * This process's container on the engine it talks to, or undefined: not in a container, in one the engine does not
 * know (another engine's, a Kubernetes pod under containerd), or no /proc. The engine's record must also carry this
 * host name, so a look-alike id from a mounted file cannot pass.
 */
export async function findOwnContainer(
  docker: Pick<DockerPort, 'containerMounts'>,
  read: ReadText = readProc,
): Promise<OwnContainer | undefined> {
  for (const id of await ownContainerCandidates(read)) {
    const found = await docker.containerMounts(id);
    if (found && found.hostname === hostname()) return { id, mounts: found.mounts };
  }
  return undefined;
}

export interface HostPathProblem {
  /** what the path is for, e.g. `MCP_CONDUCTOR_SOCKET_DIR` */
  what: string;
  path: string;
  /** where the engine would look for it on the host, when it is mounted from elsewhere */
  hostPath?: string;
  /** the kind of mount it is on, when that is the problem (a tmpfs or image layer the engine cannot reach) */
  mountType?: string;
}

/**
 * Paths this conductor will bind-mount into sandboxes, checked against its own container's mounts: each must lie on
 * a bind or volume mount whose host path is the same path. Returns the ones that are not.
 */
export function hostPathProblems(
  mounts: readonly ContainerMount[],
  paths: readonly { what: string; path: string }[],
): HostPathProblem[] {
  const problems: HostPathProblem[] = [];
  for (const { what, path } of paths) {
    const p = posix.normalize(path);
    const mount = mounts
      .filter((m) => p === m.destination || p.startsWith(`${m.destination.replace(/\/$/, '')}/`))
      .sort((a, b) => b.destination.length - a.destination.length)[0];
    if (!mount) {
      problems.push({ what, path: p });
      continue;
    }
    if (mount.type !== 'bind' && mount.type !== 'volume') {
      problems.push({ what, path: p, mountType: mount.type });
      continue;
    }
    const hostPath = posix.join(mount.source, posix.relative(mount.destination, p));
    if (hostPath !== p) problems.push({ what, path: p, hostPath });
  }
  return problems;
}

/** One sentence per problem, saying what to do. */
export function describeHostPathProblems(problems: readonly HostPathProblem[]): string {
  const lines = problems.map((x) => {
    if (x.hostPath)
      return `${x.what} ${x.path} is ${x.hostPath} on the host: mount it at the same path inside as outside (at ${x.hostPath}) and set ${x.what} to match`;
    if (x.mountType)
      return `${x.what} ${x.path} is on a ${x.mountType} mount of this container, which the engine cannot bind-mount into sandboxes: use a bind mount or a volume at the same path`;
    return `${x.what} ${x.path} is not mounted from the host: mount a host directory (or a volume) there at the same path (-v ${x.path}:${x.path})`;
  });
  return `this conductor runs in a container and the engine resolves bind mounts on the host: ${lines.join('; ')}`;
}

/** Refuses to start with paths the engine would look for elsewhere: sandboxes would get empty directories. */
export function assertSameHostPaths(
  own: OwnContainer,
  paths: readonly { what: string; path: string }[],
): void {
  const problems = hostPathProblems(own.mounts, paths);
  if (problems.length > 0) throw new ConfigError(describeHostPathProblems(problems));
}

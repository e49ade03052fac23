import { stat } from 'node:fs/promises';
import { DockerUnavailableError } from '../core/index.js';
import {
  describeHostPathProblems,
  findOwnContainer,
  hostPathProblems,
  ownContainerCandidates,
  type DockerPort,
  type ReadText,
} from '../docker/index.js';

// The doctor's checks for a conductor that runs in a container: can it reach the engine socket it was given, and
// are the paths it hands to sandboxes the same on the host, where the engine resolves bind mounts?

/** The Unix socket dockerode talks to: DOCKER_HOST as unix://PATH, else the default; undefined for TCP. */
function socketPath(env: Record<string, string | undefined>): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

/**
 * A refused socket usually means a missing group: name the socket's group and this process's groups, and how to
 * add it. Any other error is returned as it is.
 */
export async function explainSocketAccess(
  error: unknown,
  env: Record<string, string | undefined>,
): Promise<unknown> {
  const code = (error as { cause?: { code?: unknown } } | null)?.cause?.code;
  const path = socketPath(env);
  if (!(error instanceof DockerUnavailableError) || code !== 'EACCES' || !path) return error;
  const st = await stat(path).catch(() => undefined);
  if (!st) return error;
  const groups = process.getgroups?.() ?? [];
  return new DockerUnavailableError(
    `${error.message} The socket ${path} belongs to uid ${st.uid}, group ${st.gid} (mode ${(st.mode & 0o777).toString(8)}); this process runs as uid ${process.getuid?.()} in groups ${groups.join(', ') || 'none'}. Give it that group: docker run --group-add ${st.gid}, Compose group_add, or build the conductor image with DOCKER_GID=${st.gid}.`,
    { cause: error },
  );
}

/**
 * undefined when the conductor does not run in a container (nothing to check); otherwise what was found, or an
 * Error naming every path the engine would look for elsewhere on the host.
 */
export async function checkOwnContainer(
  docker: Pick<DockerPort, 'containerMounts'>,
  paths: { socketDir: string; workspaceDir: string },
  read?: ReadText,
): Promise<string | undefined> {
  const own = await findOwnContainer(docker, read);
  const wanted = [
    { what: 'MCP_CONDUCTOR_SOCKET_DIR', path: paths.socketDir },
    { what: 'MCP_CONDUCTOR_WORKSPACE', path: paths.workspaceDir },
  ];
  if (!own) {
    if ((await ownContainerCandidates(read)).length === 0) return undefined;
    return `in a container the engine does not know (another engine's, or a Kubernetes pod): cannot check that ${wanted.map((w) => `${w.what} ${w.path}`).join(' and ')} are the same paths on the engine's host`;
  }
  const problems = hostPathProblems(own.mounts, wanted);
  if (problems.length > 0) throw new Error(describeHostPathProblems(problems));
  return `in container ${own.id.slice(0, 12)}: ${wanted.map((w) => `${w.what} ${w.path}`).join(' and ')} are the same paths on the host`;
}

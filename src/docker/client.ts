import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import { DockerUnavailableError, SandboxError } from '../core/index.js';
import { readContainerUsage, type ContainerUsage } from './cgroup.js';
import { LABEL_MANAGED } from './labels.js';

/** What the conductor needs to know to create one sandbox container; hardening constants are added here. */
export interface ContainerSpec {
  name?: string;
  image: string;
  cmd: string[];
  env: string[];
  labels: Record<string, string>;
  user: string;
  runtime: 'runc' | 'runsc';
  /** `none` or the name of an existing Docker network */
  network: string;
  memoryBytes: number;
  nanoCpus: number;
  pidsLimit: number;
  /** mount point → tmpfs options */
  tmpfs: Record<string, string>;
  /** `host:container[:ro]` */
  binds: string[];
  workingDir: string;
}

export interface ContainerState {
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
}

export interface ManagedContainer {
  id: string;
  labels: Record<string, string>;
  state: string;
}

export interface ImageInfo {
  id: string;
  labels: Record<string, string>;
  sizeBytes: number;
}

export interface EngineInfo {
  serverVersion: string;
  architecture: string;
  runtimes: string[];
}

export interface BuildProgress {
  stream?: string;
  error?: string;
}

/** The small typed port every other folder uses instead of dockerode. */
export interface DockerPort {
  ping(): Promise<void>;
  info(): Promise<EngineInfo>;
  inspectImage(ref: string): Promise<ImageInfo | undefined>;
  buildImage(
    context: Readable,
    tag: string,
    labels: Record<string, string>,
    onProgress: (p: BuildProgress) => void,
  ): Promise<void>;
  removeImage(ref: string): Promise<void>;
  exportImage(ref: string): Promise<Readable>;
  importImage(tar: Readable): Promise<void>;
  createContainer(spec: ContainerSpec): Promise<string>;
  /** Attaches stdout/stderr (stream mode, before start so nothing is missed). */
  attach(id: string): Promise<Duplex>;
  start(id: string): Promise<void>;
  /** Resolves with the exit code when the container next exits; call before start. -1 if it vanished. */
  wait(id: string): Promise<number>;
  inspectContainer(id: string): Promise<ContainerState | undefined>;
  /**
   * Peak memory, whether the pids limit was hit and which of `mounts` (tmpfs mount points) are full, read from the
   * container's cgroup and mounts while it is alive (see cgroup.ts); absent what the host cannot see.
   */
  readUsage(id: string, mounts?: string[]): Promise<ContainerUsage>;
  /** SIGKILL and remove; a container that is already gone is success. */
  remove(id: string): Promise<void>;
  listManaged(labelFilters?: Record<string, string>): Promise<ManagedContainer[]>;
  ensureNetwork(name: string, labels: Record<string, string>): Promise<void>;
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Connection failures (no socket, refused) become DockerUnavailableError; API errors pass through. */
async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (statusOf(error) === undefined) {
      const code = (error as { code?: string } | null)?.code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES' || code === 'ECONNRESET') {
        throw new DockerUnavailableError(
          `The Docker engine is not reachable (${code} while trying to ${what}). Start Docker (as root: scripts/docker-setup.sh) or set DOCKER_HOST.`,
          { cause: error },
        );
      }
    }
    throw error;
  }
}

export function createDockerClient(docker: Docker = new Docker()): DockerPort {
  return {
    ping: () => guard('ping the engine', async () => void (await docker.ping())),

    info: () =>
      guard('read engine info', async () => {
        const info = (await docker.info()) as {
          ServerVersion: string;
          Architecture: string;
          Runtimes?: object;
        };
        return {
          serverVersion: info.ServerVersion,
          architecture: info.Architecture,
          runtimes: Object.keys(info.Runtimes ?? {}),
        };
      }),

    inspectImage: (ref) =>
      guard('inspect an image', async () => {
        try {
          const img = await docker.getImage(ref).inspect();
          return { id: img.Id, labels: img.Config?.Labels ?? {}, sizeBytes: img.Size };
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      }),

    buildImage: (context, tag, labels, onProgress) =>
      guard('build the image', async () => {
        const stream = await docker.buildImage(context, {
          t: tag,
          labels,
          rm: true,
          forcerm: true,
          nocache: false,
        });
        await new Promise<void>((resolve, reject) => {
          docker.modem.followProgress(
            stream,
            (err: Error | null, output: BuildProgress[]) => {
              const failed = output?.find((o) => o.error);
              if (err) reject(err);
              else if (failed) reject(new SandboxError(`image build failed: ${failed.error}`));
              else resolve();
            },
            (event: BuildProgress) => onProgress(event),
          );
        });
      }),

    removeImage: (ref) =>
      guard('remove an image', async () => {
        try {
          await docker.getImage(ref).remove({ force: true });
        } catch (error) {
          if (statusOf(error) !== 404) throw error;
        }
      }),

    exportImage: (ref) =>
      guard('export an image', async () => (await docker.getImage(ref).get()) as Readable),

    importImage: (tar) =>
      guard('import an image', async () => {
        const stream = await docker.loadImage(tar);
        await new Promise<void>((resolve, reject) =>
          docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())),
        );
      }),

    createContainer: (spec) =>
      guard('create a container', async () => {
        const c = await docker.createContainer({
          name: spec.name,
          Image: spec.image,
          Cmd: spec.cmd,
          Env: spec.env,
          Labels: spec.labels,
          User: spec.user,
          WorkingDir: spec.workingDir,
          // Random per container: nothing about the host or a previous run shows through Deno.hostname().
          Hostname: `sandbox-${randomBytes(6).toString('hex')}`,
          AttachStdin: false,
          AttachStdout: true,
          AttachStderr: true,
          OpenStdin: false,
          Tty: false,
          NetworkDisabled: spec.network === 'none',
          HostConfig: {
            Runtime: spec.runtime,
            NetworkMode: spec.network,
            Memory: spec.memoryBytes,
            MemorySwap: spec.memoryBytes,
            NanoCpus: spec.nanoCpus,
            PidsLimit: spec.pidsLimit,
            ReadonlyRootfs: true,
            CapDrop: ['ALL'],
            SecurityOpt: ['no-new-privileges'],
            // A stdout flood must not fill the host disk through the json-file driver; attach still streams.
            LogConfig: { Type: 'none', Config: {} },
            // Reaps zombies when the code may spawn processes; also keeps Deno off PID 1.
            Init: true,
            IpcMode: 'private',
            Tmpfs: spec.tmpfs,
            Binds: spec.binds,
            AutoRemove: false,
            Privileged: false,
            RestartPolicy: { Name: 'no' },
          },
        });
        return c.id;
      }),

    attach: (id) =>
      guard('attach to a container', async () => {
        const stream = (await docker
          .getContainer(id)
          .attach({ stream: true, stdout: true, stderr: true, stdin: false, hijack: false })) as Duplex;
        return stream;
      }),

    start: (id) => guard('start a container', async () => void (await docker.getContainer(id).start())),

    wait: (id) =>
      guard('wait for a container', async () => {
        try {
          const r = (await docker.getContainer(id).wait({ condition: 'next-exit' })) as {
            StatusCode: number;
          };
          return r.StatusCode;
        } catch (error) {
          if (statusOf(error) === 404) return -1;
          throw error;
        }
      }),

    inspectContainer: (id) =>
      guard('inspect a container', async () => {
        try {
          const c = await docker.getContainer(id).inspect();
          return {
            running: c.State.Running,
            exitCode: c.State.Running ? null : c.State.ExitCode,
            oomKilled: c.State.OOMKilled,
          };
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      }),

    // The engine's stats API waits for its collector tick (about a second on later calls): read the cgroup instead.
    readUsage: (id, mounts) => readContainerUsage(id, mounts),

    remove: (id) =>
      guard('remove a container', async () => {
        try {
          await docker.getContainer(id).remove({ force: true, v: true });
        } catch (error) {
          const status = statusOf(error);
          // 404: already gone; 409: removal already in progress. Both mean it is going away.
          if (status !== 404 && status !== 409) throw error;
        }
      }),

    listManaged: (labelFilters = {}) =>
      guard('list containers', async () => {
        const label = [`${LABEL_MANAGED}=true`, ...Object.entries(labelFilters).map(([k, v]) => `${k}=${v}`)];
        const list = await docker.listContainers({ all: true, filters: { label } });
        return list.map((c) => ({ id: c.Id, labels: c.Labels, state: c.State }));
      }),

    ensureNetwork: (name, labels) =>
      guard('create a network', async () => {
        const existing = await docker.listNetworks({ filters: { name: [name] } });
        if (existing.some((n) => n.Name === name)) return;
        await docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels, CheckDuplicate: true });
      }),
  };
}

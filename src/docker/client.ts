import Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import { ConfigError, DockerUnavailableError, ImageMissingError, SandboxError } from '../core/index.js';
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

/** One image of a repository, as the engine lists it. */
export interface ListedImage {
  id: string;
  /** `repository:tag` names */
  tags: string[];
  labels: Record<string, string>;
  sizeBytes: number;
  createdMs: number;
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
    options?: { nocache?: boolean },
  ): Promise<void>;
  /** Every image tagged in `repository` (any tag). */
  listImages(repository: string): Promise<ListedImage[]>;
  /** Removes a tag (the image goes when it was its last tag); a missing one is success. */
  removeImage(ref: string): Promise<void>;
  exportImage(ref: string): Promise<Readable>;
  /** Loads a tar written by exportImage; resolves with the names it loaded (`repository:tag`, or an id). */
  importImage(tar: Readable): Promise<string[]>;
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
  /** SIGKILL now, leaving removal for later; a container that is gone or already stopped is success. */
  kill(id: string): Promise<void>;
  /** SIGKILL and remove; a container that is already gone is success. */
  remove(id: string): Promise<void>;
  listManaged(labelFilters?: Record<string, string>): Promise<ManagedContainer[]>;
  /** Creates the conductor's own egress network (labelled, no inter-container traffic), or checks an existing one is such. */
  ensureNetwork(name: string): Promise<void>;
}

function statusOf(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** What a failed connection to the engine looks like, over a Unix socket (DOCKER_HOST=unix://) or TCP. */
const UNREACHABLE = new Set([
  'ENOENT',
  'ECONNREFUSED',
  'EACCES',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Connection failures (no socket, refused, cut, timed out) become DockerUnavailableError; API errors pass through. */
async function guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (statusOf(error) === undefined && typeof code === 'string' && UNREACHABLE.has(code)) {
      throw new DockerUnavailableError(
        `The Docker engine is not reachable (${code} while trying to ${what}). Start Docker (as root: scripts/docker-setup.sh) or set DOCKER_HOST.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Docker's own networks: joining one would give up the isolation a network of the conductor's own gives. */
const RESERVED_NETWORKS = new Set(['host', 'bridge', 'none', 'default']);
const ICC_OPTION = 'com.docker.network.bridge.enable_icc';

/** The image can vanish under a running conductor (`docker rmi`, a prune): say what to do, not just "404". */
function createError(error: unknown, image: string): unknown {
  const message = (error as { json?: { message?: unknown } } | null)?.json?.message;
  if (statusOf(error) === 404 && typeof message === 'string' && /no such image/i.test(message)) {
    return new ImageMissingError(
      `The sandbox image ${image} is missing (removed while the conductor was running?). Run \`mcp-conductor image\` (or \`make image\`) to build it again.`,
      { cause: error },
    );
  }
  return error;
}

export function createDockerClient(docker: Docker = new Docker()): DockerPort {
  // Serialised per name: two tenants with the same policy must not race to create the same network.
  const networks = new Map<string, Promise<void>>();

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

    buildImage: (context, tag, labels, onProgress, options = {}) =>
      guard('build the image', async () => {
        const stream = await docker.buildImage(context, {
          t: tag,
          labels,
          rm: true,
          forcerm: true,
          nocache: options.nocache === true,
          // Build steps run offline: an air-gapped engine has no network to give them, and they need none.
          networkmode: 'none',
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

    listImages: (repository) =>
      guard('list images', async () => {
        const list = await docker.listImages({ filters: { reference: [repository] } });
        return list.map((i) => ({
          id: i.Id,
          tags: (i.RepoTags ?? []).filter((t) => t.startsWith(`${repository}:`)),
          labels: i.Labels ?? {},
          sizeBytes: i.Size,
          createdMs: i.Created * 1000,
        }));
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
        const stream = await docker.loadImage(tar, { quiet: true });
        const output = await new Promise<BuildProgress[]>((resolve, reject) =>
          docker.modem.followProgress(stream, (err: Error | null, out: BuildProgress[]) =>
            err ? reject(err) : resolve(out ?? []),
          ),
        );
        const failed = output.find((o) => o.error);
        if (failed) throw new SandboxError(`loading the image failed: ${failed.error}`);
        return output
          .map((o) => /^Loaded image(?: ID)?: (\S+)/.exec(o.stream?.trim() ?? '')?.[1])
          .filter((ref): ref is string => ref !== undefined);
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
      }).catch((error: unknown) => {
        throw createError(error, spec.image);
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

    kill: (id) =>
      guard('kill a container', async () => {
        try {
          await docker.getContainer(id).kill({ signal: 'SIGKILL' });
        } catch (error) {
          const status = statusOf(error);
          // 404: gone; 409: not running. Either way nothing of it runs any more.
          if (status !== 404 && status !== 409) throw error;
        }
      }),

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

    ensureNetwork: (name) => {
      const ensure = async () => {
        if (RESERVED_NETWORKS.has(name))
          throw new ConfigError(
            `the policy's network "${name}" is one of Docker's own; name a network for the conductor to create (or use "none")`,
          );
        const existing = (await docker.listNetworks({ filters: { name: [name] } })).find(
          (n) => n.Name === name,
        );
        if (existing) {
          // Someone else's network may join other workloads, or let containers reach each other.
          if (existing.Labels?.[LABEL_MANAGED] !== 'true')
            throw new ConfigError(
              `the Docker network "${name}" exists but was not created by mcp-conductor (no ${LABEL_MANAGED} label); choose another name in the policy or remove that network`,
            );
          if (existing.Options?.[ICC_OPTION] !== 'false')
            throw new ConfigError(
              `the Docker network "${name}" lets containers reach each other (made by an older mcp-conductor); remove it (docker network rm ${name}) and the conductor makes it again`,
            );
          return;
        }
        await docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          Labels: { [LABEL_MANAGED]: 'true' },
          CheckDuplicate: true,
          // Sandboxes get egress but cannot reach one another.
          Options: { [ICC_OPTION]: 'false' },
        });
      };
      const p = guard('create a network', () => (networks.get(name) ?? Promise.resolve()).then(ensure));
      networks.set(
        name,
        p.catch(() => undefined),
      );
      return p;
    },
  };
}

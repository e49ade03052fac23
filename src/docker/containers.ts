import type Docker from 'dockerode';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { readContainerUsage, readCpuNs } from './cgroup.js';
import { createError, guard, statusOf } from './engine-errors.js';
import { LABEL_MANAGED } from './labels.js';
import type { ContainerSpec, DockerPort } from './port.js';

type ContainerCalls = Pick<
  DockerPort,
  | 'createContainer'
  | 'attach'
  | 'start'
  | 'wait'
  | 'inspectContainer'
  | 'containerMounts'
  | 'readUsage'
  | 'readCpuNs'
  | 'kill'
  | 'remove'
  | 'listManaged'
>;

/** The engine's create options: the spec, plus the hardening every sandbox gets whatever its policy says. */
export function createOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.cmd,
    Env: spec.env,
    Labels: spec.labels,
    User: spec.user,
    WorkingDir: spec.workingDir,
    // Random per container: nothing about the host or a previous run shows through Deno.hostname().
    Hostname: `sandbox-${randomBytes(6).toString('hex')}`,
    AttachStdin: spec.openStdin === true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: spec.openStdin === true,
    StdinOnce: false,
    Tty: false,
    NetworkDisabled: spec.network === 'none',
    HostConfig: {
      Runtime: spec.runtime,
      NetworkMode: spec.network,
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes,
      NanoCpus: spec.nanoCpus,
      PidsLimit: spec.pidsLimit,
      // Else the engine's own (often a million): code could hold that many files and sockets open (kernel memory,
      // the host's file table) before any other limit noticed. Hard as well as soft, so the code cannot raise it.
      Ulimits: [{ Name: 'nofile', Soft: spec.maxOpenFiles, Hard: spec.maxOpenFiles }],
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
  };
}

/** Container calls of the port: every sandbox is created here, with the hardening that never varies. */
export function containerCalls(docker: Docker): ContainerCalls {
  return {
    createContainer: (spec) =>
      guard('create a container', async () => {
        const c = await docker.createContainer(createOptions(spec));
        return c.id;
      }).catch((error: unknown) => {
        throw createError(error, spec.image);
      }),

    attach: (id, options) =>
      guard('attach to a container', async () => {
        const stdin = options?.stdin === true;
        const stream = (await docker
          .getContainer(id)
          .attach({ stream: true, stdout: true, stderr: true, stdin, hijack: stdin })) as Duplex;
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

    containerMounts: (id) =>
      guard('inspect a container', async () => {
        try {
          const c = await docker.getContainer(id).inspect();
          const mounts = c.Mounts.map((m) => ({
            type: m.Type,
            source: m.Source,
            destination: m.Destination,
          }));
          return { hostname: c.Config.Hostname, mounts };
        } catch (error) {
          if (statusOf(error) === 404) return undefined;
          throw error;
        }
      }),

    // The engine's stats API waits for its collector tick (about a second on later calls): read the cgroup instead.
    readUsage: (id, mounts) => readContainerUsage(id, mounts),
    readCpuNs: (id) => readCpuNs(id),

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
  };
}

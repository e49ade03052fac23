import type { Duplex, Readable } from 'node:stream';
import type { ContainerUsage } from './cgroup.js';

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
  /** the nofile ulimit (soft and hard) of every process in the container */
  maxOpenFiles: number;
  /** mount point → tmpfs options */
  tmpfs: Record<string, string>;
  /** `host:container[:ro]` */
  binds: string[];
  workingDir: string;
  /** keep stdin open for attach({ stdin: true }) (the type checker's language server speaks over it) */
  openStdin?: boolean;
}

export interface ContainerState {
  running: boolean;
  exitCode: number | null;
  oomKilled: boolean;
}

/** One mount of a container, as the engine records it: `source` is the host path (a volume's mount point). */
export interface ContainerMount {
  /** bind, volume, tmpfs, … */
  type: string;
  source: string;
  destination: string;
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
    /** one name, or several for the same image (`repo:1.2.0` and `repo:latest`) */
    tag: string | string[],
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
  /**
   * Attaches stdout/stderr (stream mode, before start so nothing is missed); with `stdin`, writes to the stream go
   * to the container's stdin (it must have been created with openStdin).
   */
  attach(id: string, options?: { stdin?: boolean }): Promise<Duplex>;
  start(id: string): Promise<void>;
  /** Resolves with the exit code when the container next exits; call before start. -1 if it vanished. */
  wait(id: string): Promise<number>;
  inspectContainer(id: string): Promise<ContainerState | undefined>;
  /** A container's host name and mounts (the conductor's own, when it runs in one); undefined when there is none. */
  containerMounts(id: string): Promise<{ hostname: string; mounts: ContainerMount[] } | undefined>;
  /**
   * Peak memory, CPU time, whether the pids limit was hit and which of `mounts` (tmpfs mount points) are full, read from the
   * container's cgroup and mounts while it is alive (see cgroup.ts); absent what the host cannot see.
   */
  readUsage(id: string, mounts?: string[]): Promise<ContainerUsage>;
  /** The container's CPU time so far (its cgroup's counter), in nanoseconds; undefined when the host cannot see it. */
  readCpuNs(id: string): Promise<number | undefined>;
  /** SIGKILL now, leaving removal for later; a container that is gone or already stopped is success. */
  kill(id: string): Promise<void>;
  /** SIGKILL and remove; a container that is already gone is success. */
  remove(id: string): Promise<void>;
  listManaged(labelFilters?: Record<string, string>): Promise<ManagedContainer[]>;
  /** Creates the conductor's own egress network (labelled, no inter-container traffic), or checks an existing one is such. */
  ensureNetwork(name: string): Promise<void>;
}

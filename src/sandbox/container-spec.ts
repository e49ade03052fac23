import { denoPermissionFlags, mergePermissions } from '../config/deno-flags.js';
import type { ContainerSpec } from '../docker/index.js';
import { EGRESS_SOCKET_NAME, sandboxEgress } from '../egress/index.js';
import { IMPORT_MAP_IN_IMAGE, JSR_DIR_IN_IMAGE } from '../image/index.js';
import { SOCKET_DIR_IN_CONTAINER, SOCKET_PATH_IN_CONTAINER } from '../proxy/protocol.js';
import type { SandboxProfile } from './profile.js';

/** The user sandboxed code runs as when the conductor is root: nobody:nogroup. */
export const SANDBOX_UID = 65534;

/** Whom sandboxed code runs as: a uid and a primary gid, never any supplementary group. */
export interface SandboxUser {
  uid: number;
  gid: number;
}

/**
 * As root, nobody (65534:65534): the conductor then hands it the workspace (workspace.ts). Not as root, the
 * conductor's own uid and primary gid, so that a desktop user's code writes their workspace as them and the files
 * stay theirs; 65534 could not write a directory of theirs, and only root could hand it over.
 *
 * The trade-off: code that broke out of the container would be that user on the host, not nobody. It stays a
 * non-root process with every capability dropped, no new privileges, a read-only root and only the mounts of its
 * policy, and it gets no supplementary group: Docker takes those from the image's /etc/group, which names only root
 * and nogroup, so a user's `docker` group (root on the host, in effect) never reaches a sandbox.
 */
export function sandboxUser(
  uid: number | undefined = process.getuid?.(),
  gid: number | undefined = process.getgid?.(),
): SandboxUser {
  if (uid === undefined || gid === undefined || uid === 0) return { uid: SANDBOX_UID, gid: SANDBOX_UID };
  return { uid, gid };
}

/** The container's `User`: numeric, so the image's /etc/passwd cannot change who it is. */
export function dockerUser(user: SandboxUser = sandboxUser()): string {
  return `${user.uid}:${user.gid}`;
}
export const BOOTSTRAP_IN_IMAGE = '/opt/conductor/runtime/bootstrap.ts';
/**
 * Where Deno caches the transpiled form of `data:` modules (the user's code arrives as one). The image's DENO_DIR is
 * read-only, and Deno retries a failed cache write with back-off: ~150 ms of sleeping per execution (strace). A small
 * private tmpfs here lets the write succeed; it dies with the container like /tmp.
 */
const DATA_MODULE_EMIT_DIR = '/opt/conductor/deno-dir/gen/data';
const DATA_MODULE_EMIT_MB = 8;

/**
 * The runtime's one socket, whatever the admin granted, and reading the image's vendored JSR modules: the user's
 * code is a dynamically imported `data:` module, and Deno checks read permission for each file: module such an
 * import loads (the jsr: specifiers map to them). They are public package sources, on the read-only root.
 */
const RUNTIME_PERMISSIONS = {
  read: [SOCKET_PATH_IN_CONTAINER, JSR_DIR_IN_IMAGE],
  write: [SOCKET_PATH_IN_CONTAINER],
  net: [`unix:${SOCKET_PATH_IN_CONTAINER}`],
};

const EGRESS_SOCKET_IN_CONTAINER = `${SOCKET_DIR_IN_CONTAINER}/${EGRESS_SOCKET_NAME}`;

/** The sandbox's side of the egress gateway, when the policy has one: this container's placeholders. */
function egressOf(profile: SandboxProfile, placeholders: Readonly<Record<string, string>> | undefined) {
  return profile.egress && placeholders
    ? sandboxEgress(profile.egress, placeholders, EGRESS_SOCKET_IN_CONTAINER)
    : undefined;
}

/**
 * The Deno command line: fixed safety flags, the conductor's import map (jsr: → the vendored packages; user code
 * still brings no config of its own), then exactly the granted permissions plus the runtime's own (and, with
 * egress, the gateway's socket and allowed hosts, and its settings for the runtime).
 */
export function denoCommand(
  profile: SandboxProfile,
  egressPlaceholders?: Readonly<Record<string, string>>,
): string[] {
  const egress = egressOf(profile, egressPlaceholders);
  const runtimeGrants = egress
    ? mergePermissions(RUNTIME_PERMISSIONS, egress.permissions)
    : RUNTIME_PERMISSIONS;
  const { deno, container } = profile.policy;
  // Leave a quarter of the container's memory outside the V8 heap (buffers, the runtime itself), so a heap bomb
  // ends in V8's own out-of-memory abort with a clear message rather than only in the cgroup kill.
  const heapMb = Math.max(32, Math.floor(container.memoryMb * 0.75));
  return [
    'deno',
    'run',
    '--no-prompt',
    ...(deno.allowUncachedImports ? [] : ['--cached-only']),
    ...(deno.allowRemoteImports ? [] : ['--no-remote']),
    '--no-config',
    '--no-lock',
    `--import-map=${IMPORT_MAP_IN_IMAGE}`,
    `--v8-flags=--max-old-space-size=${heapMb}`,
    ...denoPermissionFlags(mergePermissions(profile.permissions, runtimeGrants)),
    BOOTSTRAP_IN_IMAGE,
    ...(egress ? [egress.arg] : []),
  ];
}

/** A size-capped tmpfs the sandbox user owns, where nothing can be executed. */
export function tmpfsOptions(sizeMb: number, user: SandboxUser = sandboxUser()): string {
  return [
    'rw',
    'noexec',
    'nosuid',
    'nodev',
    `size=${sizeMb}m`,
    `nr_inodes=${Math.max(1024, sizeMb * 256)}`,
    `uid=${user.uid}`,
    `gid=${user.gid}`,
    'mode=0700',
  ].join(',');
}

export function containerSpec(
  profile: SandboxProfile,
  socketDir: string,
  name: string,
  labels: Record<string, string>,
  egressPlaceholders?: Readonly<Record<string, string>>,
): ContainerSpec {
  const { container, workspace } = profile.policy;
  const user = sandboxUser();
  // Read-only: connect() to a Unix socket needs no write access to its mount (runc, and runsc with --host-uds=open),
  // and nothing else in that host directory, beside the MCP and egress sockets, may change from inside (socket-dir.ts).
  const binds = [`${socketDir}:${SOCKET_DIR_IN_CONTAINER}:ro`];
  if (profile.workspaceDir && workspace.mode !== 'none') {
    binds.push(`${profile.workspaceDir}:/workspace:${workspace.mode === 'ro' ? 'ro' : 'rw'}`);
  }
  return {
    name,
    image: profile.image,
    cmd: denoCommand(profile, egressPlaceholders),
    env: egressOf(profile, egressPlaceholders)?.env ?? [],
    labels,
    user: dockerUser(user),
    runtime: container.runtime,
    network: container.network,
    memoryBytes: container.memoryMb * 1024 * 1024,
    nanoCpus: Math.round(container.cpus * 1e9),
    pidsLimit: container.pidsLimit,
    maxOpenFiles: container.maxOpenFiles,
    tmpfs: {
      '/tmp': tmpfsOptions(container.tmpfsMb, user),
      [DATA_MODULE_EMIT_DIR]: tmpfsOptions(DATA_MODULE_EMIT_MB, user),
    },
    binds,
    workingDir: '/',
  };
}

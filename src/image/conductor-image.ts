import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_HASH, type DockerPort } from '../docker/index.js';
import { createBuildContext, hashEntries, linkIdenticalFiles, type ImageEntry } from './context.js';
import { hostTreeEntries, productionNodeModules } from './host-files.js';
import { resolveSharedLibraries } from './libs.js';

// The conductor itself as an image, built the way the sandbox image is: FROM scratch through the Docker API from a
// tar stream, nothing pulled. Node and the shared libraries the host's loader resolves for it, the built dist/, the
// production node_modules, images/, policies/ and playbooks/; no shell, no package manager.

export const CONDUCTOR_REPOSITORY = 'mcp-conductor';
export const CONDUCTOR_USER = 'conductor';
export const CONDUCTOR_UID = 10001;
/** The sandbox's group (nogroup) as the conductor's primary group: workspaces it makes are group-writable for it. */
export const CONDUCTOR_GID = 65534;
export const APP_DIR = '/opt/mcp-conductor';
const NODE_IN_IMAGE = '/usr/local/bin/node';
/**
 * Where the conductor keeps its socket directories and workspaces by default: the mount point Docker gives the
 * volume `mcp-conductor` under its default data root. Mounted there (`-v mcp-conductor:<this path>`), the path is
 * the same inside and outside, as the engine resolving the sandboxes' bind mounts on the host needs, and a fresh
 * volume takes the image's ownership of this directory (the conductor user's), so nothing needs preparing.
 */
export const DATA_DIR = '/var/lib/docker/volumes/mcp-conductor/_data';
const PORT = 8787;

/** In a container the conductor cannot build the sandbox image (no ldd, no tools to copy): it must be given one. */
export const IN_CONTAINER_IMAGE_HINT =
  'In a container the conductor cannot build the sandbox image: build it on the host (`make image`, or `mcp-conductor image`), or load it there (`docker load`, `mcp-conductor image --import FILE`).';

/** Probes /readyz with Node itself: the image has no shell and no curl. */
const HEALTHCHECK = [
  NODE_IN_IMAGE,
  '-e',
  `fetch('http://127.0.0.1:${PORT}/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
];

/** Run at build time as root: the data directory is the conductor's (COPY makes everything root's). */
const OWN_DATA_DIR = [
  NODE_IN_IMAGE,
  '-e',
  `const fs = require('fs'); fs.mkdirSync('${DATA_DIR}', { recursive: true }); fs.chownSync('${DATA_DIR}', ${CONDUCTOR_UID}, ${CONDUCTOR_GID}); fs.chmodSync('${DATA_DIR}', 0o700);`,
];

export function conductorDockerfile(): string {
  const env = {
    HOME: '/tmp',
    NODE_ENV: 'production',
    PATH: '/usr/local/bin',
    MCP_CONDUCTOR_SOCKET_DIR: `${DATA_DIR}/sockets`,
    MCP_CONDUCTOR_WORKSPACE: `${DATA_DIR}/workspace`,
    // On the data volume, not the tmpfs HOME: kept outputs take disk, not the container's memory. Replicas sharing
    // the volume keep each other's (their owner is judged by its container, as in reaping).
    MCP_CONDUCTOR_RETAINED_DIR: `${DATA_DIR}/retained`,
  };
  return [
    'FROM scratch',
    'COPY rootfs/ /',
    `RUN ${JSON.stringify(OWN_DATA_DIR)}`,
    ...Object.entries(env).map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`),
    // By name, so the engine adds the groups /etc/group lists the user in (the engine socket's).
    `USER ${CONDUCTOR_USER}`,
    `WORKDIR ${APP_DIR}`,
    `EXPOSE ${PORT}`,
    `HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ${JSON.stringify(HEALTHCHECK)}`,
    `ENTRYPOINT ${JSON.stringify([NODE_IN_IMAGE, `${APP_DIR}/dist/cli.js`])}`,
    // Refuses to start without a tenants file (MCP_CONDUCTOR_TENANTS): a non-loopback bind needs authentication.
    `CMD ${JSON.stringify(['serve', '--host', '0.0.0.0'])}`,
    '',
  ].join('\n');
}

/** /etc/passwd and /etc/group: the conductor user, in the engine socket's group when it has one. */
export function accountFiles(dockerGid: number | undefined): { passwd: string; group: string } {
  const passwd = [
    'root:x:0:0:root:/root:/sbin/nologin',
    `${CONDUCTOR_USER}:x:${CONDUCTOR_UID}:${CONDUCTOR_GID}:mcp-conductor:/tmp:/sbin/nologin`,
    'nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin',
  ];
  const group = ['root:x:0:', 'nogroup:x:65534:'];
  if (dockerGid !== undefined && dockerGid !== 0 && dockerGid !== CONDUCTOR_GID)
    group.push(`docker:x:${dockerGid}:${CONDUCTOR_USER}`);
  return { passwd: `${passwd.join('\n')}\n`, group: `${group.join('\n')}\n` };
}

/** The group of the engine's Unix socket on this host (DOCKER_HOST=unix://…, or the default), if it has one. */
export async function engineSocketGid(env: Record<string, string | undefined>): Promise<number | undefined> {
  const host = env.DOCKER_HOST;
  if (host && !host.startsWith('unix://')) return undefined;
  const path = host ? host.slice('unix://'.length) : '/var/run/docker.sock';
  return (await stat(path).catch(() => undefined))?.gid;
}

export interface ConductorImageOptions {
  /** the checkout or installed package: package.json, package-lock.json, dist/, node_modules/, images/, policies/, playbooks/ */
  packageRoot: string;
  /** the Node binary to copy (default: the one running this) */
  nodeBinary?: string;
  /** the engine socket's group, added to the conductor user (default: the socket's on this host) */
  dockerGid?: number;
  /** the environment that names this host's engine (DOCKER_HOST), read for the socket's group */
  env: Record<string, string | undefined>;
}

export interface ConductorImagePlan {
  version: string;
  tags: string[];
  hash: string;
  entries: ImageEntry[];
  dockerfile: string;
}

/** The Deno binaries of the npm package `deno` (its postinstall links one into deno/ too): the conductor never runs Deno itself, only the sandbox image does. */
const isDenoBinary = (rel: string) => /^node_modules\/(?:deno|@deno\/[^/]+)\/deno(?:\.exe)?$/.test(rel);

export async function planConductorImage(opts: ConductorImageOptions): Promise<ConductorImagePlan> {
  const root = opts.packageRoot;
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as unknown;
  try {
    await stat(join(root, 'dist', 'cli.js'));
  } catch (error) {
    throw new ImageMissingError('dist/cli.js is missing: run `npm run build` (make build) first', {
      cause: error,
    });
  }
  const node = opts.nodeBinary ?? process.execPath;
  const dockerGid = opts.dockerGid ?? (await engineSocketGid(opts.env));
  const accounts = accountFiles(dockerGid);
  const byPath = new Map<string, ImageEntry>();
  const add = (e: ImageEntry) => byPath.set(e.path, e);
  add({ kind: 'file', path: NODE_IN_IMAGE, mode: 0o755, hostPath: node });
  for (const lib of await resolveSharedLibraries(node))
    add({ kind: 'file', path: lib, mode: 0o755, hostPath: lib });
  add({ kind: 'content', path: '/etc/passwd', mode: 0o644, content: Buffer.from(accounts.passwd) });
  add({ kind: 'content', path: '/etc/group', mode: 0o644, content: Buffer.from(accounts.group) });
  add({
    kind: 'content',
    path: '/etc/nsswitch.conf',
    mode: 0o644,
    content: Buffer.from('hosts: files dns\n'),
  });
  add({ kind: 'dir', path: '/tmp', mode: 0o1777 });
  add({
    kind: 'content',
    path: `${APP_DIR}/package.json`,
    mode: 0o644,
    content: await readFile(join(root, 'package.json')),
  });
  for (const dir of ['dist', 'images', 'policies', 'playbooks'])
    (await hostTreeEntries(join(root, dir), `${APP_DIR}/${dir}`, (rel) => rel.endsWith('.test.js'))).forEach(
      add,
    );
  (await productionNodeModules(root, lock, APP_DIR, isDenoBinary)).forEach(add);
  const entries = await linkIdenticalFiles([...byPath.values()]);
  const dockerfile = conductorDockerfile();
  const hash = await hashEntries(entries, JSON.stringify({ dockerfile }));
  return {
    version: pkg.version,
    tags: [`${CONDUCTOR_REPOSITORY}:${pkg.version}`, `${CONDUCTOR_REPOSITORY}:latest`],
    hash,
    entries,
    dockerfile,
  };
}

export interface ConductorImageRef {
  tags: string[];
  built: boolean;
  sizeBytes: number;
}

/** Builds `mcp-conductor:<version>` and `:latest`, unless both are already this content (or `force`). */
export async function buildConductorImage(
  opts: ConductorImageOptions & {
    docker: Pick<DockerPort, 'buildImage' | 'inspectImage'>;
    force?: boolean;
    onProgress?: (line: string) => void;
  },
): Promise<ConductorImageRef> {
  const say = opts.onProgress ?? (() => undefined);
  say(
    '[1/3] resolving inputs (Node and its shared libraries, dist/, production node_modules, images/, policies/, playbooks/)',
  );
  const plan = await planConductorImage(opts);
  const existing = await Promise.all(plan.tags.map((t) => opts.docker.inspectImage(t)));
  if (!opts.force && existing.every((i) => i?.labels[LABEL_IMAGE_HASH] === plan.hash)) {
    say(
      `${plan.tags.join(' and ')} are up to date (${(existing[0]!.sizeBytes / 1e6).toFixed(1)} MB); nothing to do`,
    );
    return { tags: plan.tags, built: false, sizeBytes: existing[0]!.sizeBytes };
  }
  say(`[2/3] building ${plan.tags.join(' and ')} FROM scratch (${plan.entries.length} files)`);
  await opts.docker.buildImage(
    createBuildContext(plan.entries, plan.dockerfile),
    plan.tags,
    { [LABEL_IMAGE_HASH]: plan.hash },
    (p) => {
      const line = p.stream?.trim();
      if (line) say(`      ${line}`);
    },
    { nocache: opts.force === true },
  );
  const built = await opts.docker.inspectImage(plan.tags[0]!);
  if (!built) throw new ImageMissingError(`the engine reported success but ${plan.tags[0]} is not there`);
  say(`[3/3] built ${plan.tags.join(' and ')} (${(built.sizeBytes / 1e6).toFixed(1)} MB)`);
  return { tags: plan.tags, built: true, sizeBytes: built.sizeBytes };
}

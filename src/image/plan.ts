import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadImageConfig, type ImageConfig } from '../config/image-config.js';
import { ImageMissingError } from '../core/index.js';
import type { DockerPort } from '../docker/index.js';
import {
  dockerfileFor,
  hashEntries,
  linkIdenticalFiles,
  readRuntimeFiles,
  type ImageEntry,
} from './context.js';
import { hostMatchesEngine, locateDenoBinary, type DenoBinary } from './deno-binary.js';
import { resolveSharedLibraries } from './libs.js';
import { readLock, type LockFile } from './lock.js';
import { resolveTool } from './tools.js';

export const IMAGE_REPOSITORY = 'mcp-conductor-sandbox';
export const DENO_DIR_IN_IMAGE = '/opt/conductor/deno-dir';
export const RUNTIME_DIR_IN_IMAGE = '/opt/conductor/runtime';

export const DENO_IN_IMAGE = '/usr/local/bin/deno';
/** The conductor's import map: jsr: specifiers → the JSR packages vendored into the image (jsr-vendor.ts). */
export const IMPORT_MAP_IN_IMAGE = '/opt/conductor/import-map.json';
/** A module importing every image.json dependency, so the build step below loads each one as the sandbox will. */
const IMAGE_DEPS_IN_IMAGE = '/opt/conductor/image-deps.ts';

/**
 * Run inside the image at build time (offline: the engine gives build steps no network), with the sandbox's import
 * map and --no-remote: transpile the runtime and the vendored JSR
 * modules into DENO_DIR's emit cache at their final paths, and prove every dependency imports offline. Without
 * it, every sandbox transpiles at start and Deno, unable to write its read-only cache, retries the write with
 * back-off: about 150 ms of sleeping in each container's start-up (measured with strace).
 */
const BUILD_STEPS = [
  [
    DENO_IN_IMAGE,
    'cache',
    '--no-config',
    '--no-lock',
    '--no-remote',
    `--import-map=${IMPORT_MAP_IN_IMAGE}`,
    `${RUNTIME_DIR_IN_IMAGE}/bootstrap.ts`,
    IMAGE_DEPS_IN_IMAGE,
  ],
] as const;

export const CA_BUNDLE_IN_IMAGE = '/etc/ssl/certs/ca-certificates.crt';
/** Where distributions keep the CA bundle; the first found is copied to CA_BUNDLE_IN_IMAGE. */
const HOST_CA_BUNDLES = [CA_BUNDLE_IN_IMAGE, '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
/** How the dependencies are cached; part of the recipe because it shapes the cache in the image. */
const PRECACHE_ARGS = ['cache', '--no-config', '--frozen', 'vendor-jsr', 'npm-at-default-registry'] as const;

/** Registries the build downloads from; they shape nothing in the image. */
export interface Registries {
  /** NPM_CONFIG_REGISTRY: an npm mirror */
  npm?: string;
  /** JSR_URL: a JSR mirror */
  jsr?: string;
}

export interface PlanOptions {
  docker: Pick<DockerPort, 'info'>;
  /** the images/deno folder (or a copy): image.json, deno.lock and runtime/ */
  imageDir: string;
  /** the host's CA bundle; found in the usual places when not given */
  caBundle?: string;
}

/**
 * What the image is made of apart from the build host's own files (Deno's bytes, shared libraries, tools, CA
 * bundle): the Dockerfile, image config, lock, runtime and Deno version. The registry it was built from is no
 * input: the lock pins every byte, and nothing of the registry stays in the image. An image carries its recipe
 * hash as a label, so an image built on another host and imported here is still found.
 */
export interface ImageRecipe {
  recipeHash: string;
  /** the Docker engine's architecture, as it reports it */
  architecture: string;
  config: ImageConfig;
  lock: LockFile;
  deno: DenoBinary;
  denoVersion: string;
  /** the Dockerfile the image is built with */
  dockerfile: string;
  /** the entries that do not come from host files */
  ownEntries: ImageEntry[];
}

export interface ImagePlan extends ImageRecipe {
  /** repository:tag, the tag being the first 16 hex digits of `hash` */
  tag: string;
  /** hash of every input, host files included */
  hash: string;
  entries: ImageEntry[];
  denoPath: string;
  /** the image config's tools, where each was found */
  tools: { program: string; path: string }[];
}

/** The image's whole environment. */
export const IMAGE_ENV: Readonly<Record<string, string>> = {
  DENO_DIR: DENO_DIR_IN_IMAGE,
  DENO_NO_UPDATE_CHECK: '1',
  DENO_NO_PACKAGE_JSON: '1',
  NO_COLOR: '1',
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
};

export async function planRecipe(opts: PlanOptions): Promise<ImageRecipe> {
  const { architecture } = await opts.docker.info();
  const deno = locateDenoBinary(architecture);
  const config = await loadImageConfig(join(opts.imageDir, 'image.json'));
  const lock = await readLock(opts.imageDir);
  const ownEntries: ImageEntry[] = [
    {
      kind: 'content',
      path: '/etc/passwd',
      mode: 0o644,
      content: Buffer.from(
        'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n',
      ),
    },
    {
      kind: 'content',
      path: '/etc/group',
      mode: 0o644,
      content: Buffer.from('root:x:0:\nnogroup:x:65534:\n'),
    },
    { kind: 'dir', path: '/tmp', mode: 0o1777 },
    { kind: 'dir', path: '/workspace', mode: 0o755 },
    { kind: 'dir', path: '/run/conductor', mode: 0o755 },
    {
      kind: 'content',
      path: IMAGE_DEPS_IN_IMAGE,
      mode: 0o644,
      content: Buffer.from(config.dependencies.map((d) => `import ${JSON.stringify(d)};\n`).join('')),
    },
  ];
  for (const f of await readRuntimeFiles(join(opts.imageDir, 'runtime'))) {
    ownEntries.push({
      kind: 'content',
      path: `${RUNTIME_DIR_IN_IMAGE}/${f.name}`,
      mode: 0o644,
      content: f.content,
    });
  }
  // Fixed: no registry, mirror or host value, since code granted allow-env reads all of it. The npm cache is laid
  // out for the public registry whatever the build used (npm-cache.ts), and JSR resolves through the import map.
  const dockerfile = dockerfileFor(IMAGE_ENV, BUILD_STEPS);
  const recipeHash = await hashRecipe({ deno, config, lock, dockerfile, ownEntries });
  return { recipeHash, architecture, config, lock, deno, denoVersion: deno.version, dockerfile, ownEntries };
}

/**
 * The recipe hash: everything but the host's files. The Dockerfile text is hashed as generated (USER, WORKDIR,
 * ENV…), and so is how dependencies are cached, so no hand-bumped layout version is needed.
 */
export function hashRecipe(
  r: Pick<ImageRecipe, 'deno' | 'config' | 'lock' | 'dockerfile' | 'ownEntries'>,
): Promise<string> {
  return hashEntries(
    r.ownEntries,
    JSON.stringify({
      deno: `${r.deno.packageName}@${r.deno.version}`,
      dependencies: r.config.dependencies,
      lock: r.lock.text,
      tools: r.config.tools,
      precache: PRECACHE_ARGS,
      dockerfile: r.dockerfile,
    }),
  );
}

async function findCaBundle(given: string | undefined): Promise<string> {
  for (const path of given ? [given] : HOST_CA_BUNDLES) {
    try {
      await access(path);
      return path;
    } catch {
      // try the next place
    }
  }
  throw new ImageMissingError(
    `No CA bundle at ${given ?? HOST_CA_BUNDLES.join(' or ')}; install the ca-certificates package.`,
  );
}

/** Works out every input of the image and its content-hash tag, without building anything. */
export async function planImage(opts: PlanOptions, recipe?: ImageRecipe): Promise<ImagePlan> {
  const r = recipe ?? (await planRecipe(opts));
  const { architecture } = r;
  if (!hostMatchesEngine(architecture)) {
    throw new ImageMissingError(
      `The Docker engine runs ${architecture} but this host is ${process.arch}: the shared libraries copied into the image come from this host. ` +
        "Build on a host of the engine's architecture and move the image with `mcp-conductor image --export/--import`.",
    );
  }
  try {
    await access(r.deno.path);
  } catch (error) {
    throw new ImageMissingError(`The Deno binary is missing from ${r.deno.packageName}; run \`npm ci\`.`, {
      cause: error,
    });
  }
  const byPath = new Map<string, ImageEntry>();
  const add = (e: ImageEntry) => byPath.set(e.path, e);
  add({ kind: 'file', path: DENO_IN_IMAGE, mode: 0o755, hostPath: r.deno.path });
  const libs = new Set(await resolveSharedLibraries(r.deno.path));
  const tools: ImagePlan['tools'] = [];
  for (const spec of r.config.tools) {
    const tool = await resolveTool(spec);
    tools.push({ program: spec.program, path: tool.path });
    tool.entries.forEach(add);
    for (const lib of tool.libraries) libs.add(lib);
  }
  for (const lib of [...libs].sort()) add({ kind: 'file', path: lib, mode: 0o755, hostPath: lib });
  add({ kind: 'file', path: CA_BUNDLE_IN_IMAGE, mode: 0o644, hostPath: await findCaBundle(opts.caBundle) });
  r.ownEntries.forEach(add);
  const entries = await linkIdenticalFiles([...byPath.values()]);
  const hash = await hashEntries(entries, JSON.stringify({ recipe: r.recipeHash, dockerfile: r.dockerfile }));
  return {
    ...r,
    tag: `${IMAGE_REPOSITORY}:${hash.slice(0, 16)}`,
    hash,
    entries,
    denoPath: r.deno.path,
    tools,
  };
}

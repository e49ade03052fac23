import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { loadImageConfig, type ImageConfig } from '../config/image-config.js';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_RECIPE, type DockerPort } from '../docker/index.js';
import {
  dockerfileFor,
  hashEntries,
  linkIdenticalFiles,
  readRuntimeFiles,
  type ImageEntry,
} from './context.js';
import { hostMatchesEngine, locateDenoBinary, type DenoBinary } from './deno-binary.js';
import { resolveSharedLibraries } from './libs.js';
import { resolveTool } from './tools.js';

export const IMAGE_REPOSITORY = 'mcp-conductor-sandbox';
export const DENO_DIR_IN_IMAGE = '/opt/conductor/deno-dir';
export const RUNTIME_DIR_IN_IMAGE = '/opt/conductor/runtime';

export const DENO_IN_IMAGE = '/usr/local/bin/deno';

/**
 * Run inside the image at build time: transpile the runtime into DENO_DIR's emit cache at its final path. Without
 * it, every sandbox transpiles the runtime at start and Deno, unable to write its read-only cache, retries the write
 * with back-off: about 150 ms of sleeping in each container's start-up (measured with strace).
 */
const BUILD_STEPS = [
  [DENO_IN_IMAGE, 'cache', '--no-config', '--no-lock', `${RUNTIME_DIR_IN_IMAGE}/bootstrap.ts`],
] as const;

export const CA_BUNDLE_IN_IMAGE = '/etc/ssl/certs/ca-certificates.crt';
/** Where distributions keep the CA bundle; the first found is copied to CA_BUNDLE_IN_IMAGE. */
const HOST_CA_BUNDLES = [CA_BUNDLE_IN_IMAGE, '/etc/pki/tls/certs/ca-bundle.crt', '/etc/ssl/cert.pem'];
/** How the dependencies are cached; part of the recipe because it shapes the cache in the image. */
export const PRECACHE_ARGS = ['cache', '--no-config', '--no-lock'] as const;

export interface Registries {
  /** NPM_CONFIG_REGISTRY: an npm mirror */
  npm?: string;
  /** JSR_URL: a JSR mirror */
  jsr?: string;
}

export interface PlanOptions {
  docker: Pick<DockerPort, 'info'>;
  /** the images/deno folder (or a copy): image.json and runtime/ */
  imageDir: string;
  registries: Registries;
  /** the host's CA bundle; found in the usual places when not given */
  caBundle?: string;
}

/**
 * What the image is made of apart from the build host's own files (Deno's bytes, shared libraries, tools, CA
 * bundle) and mirrors: the Dockerfile, image config, runtime and Deno version. An image carries its recipe hash as
 * a label, so an image built on another host and imported here is still found.
 */
export interface ImageRecipe {
  recipeHash: string;
  /** the Docker engine's architecture, as it reports it */
  architecture: string;
  config: ImageConfig;
  deno: DenoBinary;
  denoVersion: string;
  env: Record<string, string>;
  /** the Dockerfile the image is built with (mirrors included) */
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
}

export async function planRecipe(opts: PlanOptions): Promise<ImageRecipe> {
  const { architecture } = await opts.docker.info();
  const deno = locateDenoBinary(architecture);
  const config = await loadImageConfig(join(opts.imageDir, 'image.json'));
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
  ];
  for (const f of await readRuntimeFiles(join(opts.imageDir, 'runtime'))) {
    ownEntries.push({
      kind: 'content',
      path: `${RUNTIME_DIR_IN_IMAGE}/${f.name}`,
      mode: 0o644,
      content: f.content,
    });
  }
  const env: Record<string, string> = {
    DENO_DIR: DENO_DIR_IN_IMAGE,
    DENO_NO_UPDATE_CHECK: '1',
    DENO_NO_PACKAGE_JSON: '1',
    NO_COLOR: '1',
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
  };
  // Mirrors are left out of the recipe: a machine importing the image has none to name, and needs none.
  const recipeHash = await hashRecipe({
    deno,
    config,
    dockerfile: dockerfileFor(env, BUILD_STEPS),
    ownEntries,
  });
  // The cache layout includes the registry host, so code must resolve against the same registry it was cached from.
  if (opts.registries.npm) env.NPM_CONFIG_REGISTRY = opts.registries.npm;
  if (opts.registries.jsr) env.JSR_URL = opts.registries.jsr;
  const dockerfile = dockerfileFor(env, BUILD_STEPS);
  return { recipeHash, architecture, config, deno, denoVersion: deno.version, env, dockerfile, ownEntries };
}

/**
 * The recipe hash: everything but the host's files. The Dockerfile text is hashed as generated (USER, WORKDIR,
 * ENV…), and so is how dependencies are cached, so no hand-bumped layout version is needed.
 */
export function hashRecipe(
  r: Pick<ImageRecipe, 'deno' | 'config' | 'dockerfile' | 'ownEntries'>,
): Promise<string> {
  return hashEntries(
    r.ownEntries,
    JSON.stringify({
      deno: `${r.deno.packageName}@${r.deno.version}`,
      dependencies: r.config.dependencies,
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
  for (const spec of r.config.tools) {
    const tool = await resolveTool(spec);
    tool.entries.forEach(add);
    for (const lib of tool.libraries) libs.add(lib);
  }
  for (const lib of [...libs].sort()) add({ kind: 'file', path: lib, mode: 0o755, hostPath: lib });
  add({ kind: 'file', path: CA_BUNDLE_IN_IMAGE, mode: 0o644, hostPath: await findCaBundle(opts.caBundle) });
  r.ownEntries.forEach(add);
  const entries = await linkIdenticalFiles([...byPath.values()]);
  const hash = await hashEntries(entries, JSON.stringify({ recipe: r.recipeHash, dockerfile: r.dockerfile }));
  return { ...r, tag: `${IMAGE_REPOSITORY}:${hash.slice(0, 16)}`, hash, entries, denoPath: r.deno.path };
}

export interface ImageLookup {
  /**
   * current: the image this host's inputs give is there. compatible: an image of the same recipe built from other
   * host files (imported, or the host's libraries changed since). stale: only images of other recipes. missing: none.
   */
  state: 'current' | 'compatible' | 'stale' | 'missing';
  recipe: ImageRecipe;
  /** the tag this host would build; undefined when its files cannot be read (see planError) */
  wanted?: string;
  planError?: unknown;
  /** the image to run, for current and compatible */
  found?: { tag: string; sizeBytes: number };
  /** every tag of the repository the engine has */
  have: string[];
}

/** Finds the image to run: the one this host's inputs give, else the newest one of the same recipe. */
export async function lookUpImage(
  opts: PlanOptions & { docker: Pick<DockerPort, 'info' | 'listImages'> },
): Promise<ImageLookup> {
  const recipe = await planRecipe(opts);
  let plan: ImagePlan | undefined;
  let planError: unknown;
  try {
    plan = await planImage(opts, recipe);
  } catch (error) {
    planError = error;
  }
  const listed = await opts.docker.listImages(IMAGE_REPOSITORY);
  const have = listed.flatMap((i) => i.tags).sort();
  const base = { recipe, wanted: plan?.tag, planError, have };
  if (plan) {
    const exact = listed.find((i) => i.tags.includes(plan.tag));
    if (exact) return { ...base, state: 'current', found: { tag: plan.tag, sizeBytes: exact.sizeBytes } };
  }
  const sameRecipe = listed
    .filter((i) => i.labels[LABEL_IMAGE_RECIPE] === recipe.recipeHash && i.tags.length > 0)
    .sort((a, b) => b.createdMs - a.createdMs)[0];
  if (sameRecipe)
    return {
      ...base,
      state: 'compatible',
      found: { tag: sameRecipe.tags.sort()[0]!, sizeBytes: sameRecipe.sizeBytes },
    };
  return { ...base, state: have.length > 0 ? 'stale' : 'missing' };
}

/** The image the conductor runs, or an ImageMissingError that says what to do. */
export async function findImage(
  opts: PlanOptions & { docker: Pick<DockerPort, 'info' | 'listImages'> },
): Promise<{ tag: string; config: ImageConfig }> {
  const look = await lookUpImage(opts);
  if (look.found) return { tag: look.found.tag, config: look.recipe.config };
  if (look.planError instanceof Error) throw look.planError;
  const stale =
    look.state === 'stale' ? ` (the engine has ${look.have.join(', ')}, built from other inputs)` : '';
  throw new ImageMissingError(
    `The sandbox image ${look.wanted} is not built yet${stale}. Run \`mcp-conductor image\` (or \`make image\`), or load one with \`mcp-conductor image --import FILE\`.`,
  );
}

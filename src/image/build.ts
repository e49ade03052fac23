import { execFile } from 'node:child_process';
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadImageConfig, type ImageConfig } from '../config/image-config.js';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_HASH, type DockerPort } from '../docker/index.js';
import {
  createBuildContext,
  dockerfileFor,
  hashEntries,
  readRuntimeFiles,
  type ImageEntry,
} from './context.js';
import { hostMatchesEngine, locateDenoBinary } from './deno-binary.js';
import { resolveSharedLibraries } from './libs.js';
import { resolveTool } from './tools.js';

const run = promisify(execFile);

/** Bumped when the image layout changes in a way the inputs do not show. */
const LAYOUT_VERSION = '1';
export const IMAGE_REPOSITORY = 'mcp-conductor-sandbox';
export const DENO_DIR_IN_IMAGE = '/opt/conductor/deno-dir';
export const RUNTIME_DIR_IN_IMAGE = '/opt/conductor/runtime';
export const DENO_IN_IMAGE = '/usr/local/bin/deno';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

export interface Registries {
  /** NPM_CONFIG_REGISTRY: an npm mirror */
  npm?: string;
  /** JSR_URL: a JSR mirror */
  jsr?: string;
}

export interface ImagePlan {
  tag: string;
  hash: string;
  config: ImageConfig;
  denoVersion: string;
  entries: ImageEntry[];
  env: Record<string, string>;
  denoPath: string;
}

export interface PlanOptions {
  docker: DockerPort;
  /** the repository's images/deno folder: image.json and runtime/ */
  imageDir: string;
  registries: Registries;
}

/** Works out every input of the image and its content-hash tag, without building anything. */
export async function planImage(opts: PlanOptions): Promise<ImagePlan> {
  const { architecture } = await opts.docker.info();
  if (!hostMatchesEngine(architecture)) {
    throw new ImageMissingError(
      `The Docker engine runs ${architecture} but this host is ${process.arch}: the shared libraries copied into the image come from this host. ` +
        "Build on a host of the engine's architecture and move the image with `mcp-conductor image --export/--import`.",
    );
  }
  const deno = locateDenoBinary(architecture);
  try {
    await access(deno.path);
  } catch (error) {
    throw new ImageMissingError(`The Deno binary is missing from ${deno.packageName}; run \`npm ci\`.`, {
      cause: error,
    });
  }
  const config = await loadImageConfig(join(opts.imageDir, 'image.json'));
  const entries: ImageEntry[] = [{ kind: 'file', path: DENO_IN_IMAGE, mode: 0o755, hostPath: deno.path }];
  const libs = new Set(await resolveSharedLibraries(deno.path));
  for (const name of config.tools) {
    const tool = await resolveTool(name);
    entries.push({ kind: 'file', path: tool.path, mode: 0o755, hostPath: tool.path });
    for (const lib of tool.libraries) libs.add(lib);
  }
  for (const lib of [...libs].sort()) entries.push({ kind: 'file', path: lib, mode: 0o755, hostPath: lib });
  try {
    await access(CA_BUNDLE);
    entries.push({ kind: 'file', path: CA_BUNDLE, mode: 0o644, hostPath: CA_BUNDLE });
  } catch {
    throw new ImageMissingError(`No CA bundle at ${CA_BUNDLE}; install the ca-certificates package.`);
  }
  entries.push(
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
  );
  for (const f of await readRuntimeFiles(join(opts.imageDir, 'runtime'))) {
    entries.push({
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
  // The cache layout includes the registry host, so code must resolve against the same registry it was cached from.
  if (opts.registries.npm) env.NPM_CONFIG_REGISTRY = opts.registries.npm;
  if (opts.registries.jsr) env.JSR_URL = opts.registries.jsr;
  const extra = JSON.stringify({ LAYOUT_VERSION, deps: config.dependencies, env, deno: deno.version });
  const hash = await hashEntries(entries, extra);
  return {
    tag: `${IMAGE_REPOSITORY}:${hash.slice(0, 16)}`,
    hash,
    config,
    denoVersion: deno.version,
    entries,
    env,
    denoPath: deno.path,
  };
}

/** Downloads the dependencies into a fresh DENO_DIR with the same Deno the image runs. */
async function precache(
  plan: ImagePlan,
  registries: Registries,
  hostEnv: NodeJS.ProcessEnv,
): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'mcp-conductor-image-'));
  const denoDir = join(work, 'deno-dir');
  const deps = join(work, 'deps.ts');
  await writeFile(deps, plan.config.dependencies.map((d) => `import ${JSON.stringify(d)};\n`).join(''));
  const env: NodeJS.ProcessEnv = {
    PATH: hostEnv.PATH,
    HOME: hostEnv.HOME,
    DENO_DIR: denoDir,
    DENO_NO_UPDATE_CHECK: '1',
    NO_COLOR: '1',
  };
  // Proxies and extra CAs the host uses to reach the registry (a TLS-inspecting proxy needs its CA trusted).
  for (const k of [
    'HTTPS_PROXY',
    'HTTP_PROXY',
    'NO_PROXY',
    'https_proxy',
    'http_proxy',
    'no_proxy',
    'DENO_CERT',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
  ]) {
    if (hostEnv[k]) env[k] = hostEnv[k];
  }
  env.DENO_TLS_CA_STORE = hostEnv.DENO_TLS_CA_STORE ?? 'mozilla,system';
  if (registries.npm) env.NPM_CONFIG_REGISTRY = registries.npm;
  if (registries.jsr) env.JSR_URL = registries.jsr;
  try {
    if (plan.config.dependencies.length > 0) {
      await run(plan.denoPath, ['cache', '--no-config', '--no-lock', deps], {
        env,
        cwd: work,
        maxBuffer: 16 * 1024 * 1024,
      });
    }
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    const stderr = String((error as { stderr?: string }).stderr ?? '').trim();
    throw new ImageMissingError(`pre-caching the image dependencies failed:\n${stderr.slice(-2000)}`, {
      cause: error,
    });
  }
  // SQLite side files would be read-only junk in the image.
  for (const name of await readdir(denoDir).catch(() => [] as string[])) {
    if (name.endsWith('-shm') || name.endsWith('-wal')) await rm(join(denoDir, name), { force: true });
  }
  return work;
}

export interface EnsureImageOptions extends PlanOptions {
  force?: boolean;
  hostEnv: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}

export interface ImageRef {
  tag: string;
  built: boolean;
  sizeBytes: number;
}

/** Builds the image unless one with the same content hash exists (or `force`). */
export async function ensureImage(opts: EnsureImageOptions): Promise<ImageRef> {
  const say = opts.onProgress ?? (() => undefined);
  say('[1/4] resolving inputs (Deno binary, shared libraries, runtime, dependency list)');
  const plan = await planImage(opts);
  const existing = await opts.docker.inspectImage(plan.tag);
  if (existing && !opts.force) {
    say(`image ${plan.tag} is up to date (${(existing.sizeBytes / 1e6).toFixed(1)} MB); nothing to do`);
    return { tag: plan.tag, built: false, sizeBytes: existing.sizeBytes };
  }
  say(`[2/4] pre-caching ${plan.config.dependencies.length} dependencies with Deno ${plan.denoVersion}`);
  const work = await precache(plan, opts.registries, opts.hostEnv);
  try {
    say(`[3/4] building ${plan.tag} FROM scratch`);
    const entries: ImageEntry[] = [
      ...plan.entries,
      { kind: 'tree', path: DENO_DIR_IN_IMAGE, hostPath: join(work, 'deno-dir') },
    ];
    const context = createBuildContext(entries, dockerfileFor(plan.env));
    await opts.docker.buildImage(context, plan.tag, { [LABEL_IMAGE_HASH]: plan.hash }, (p) => {
      const line = p.stream?.trim();
      if (line) say(`      ${line}`);
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const built = await opts.docker.inspectImage(plan.tag);
  if (!built) throw new ImageMissingError(`the engine reported success but ${plan.tag} is not there`);
  say(`[4/4] built ${plan.tag} (${(built.sizeBytes / 1e6).toFixed(1)} MB)`);
  return { tag: plan.tag, built: true, sizeBytes: built.sizeBytes };
}

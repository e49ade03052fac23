import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_HASH, LABEL_IMAGE_RECIPE, type DockerPort } from '../docker/index.js';
import { createBuildContext, type ImageEntry } from './context.js';
import {
  DENO_DIR_IN_IMAGE,
  PRECACHE_ARGS,
  planImage,
  type ImagePlan,
  type PlanOptions,
  type Registries,
} from './plan.js';

const run = promisify(execFile);

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
      await run(plan.denoPath, [...PRECACHE_ARGS, deps], {
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
  docker: DockerPort;
  /** rebuild, bypassing the engine's build cache, even when the tag exists */
  force?: boolean;
  hostEnv: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}

export interface ImageRef {
  tag: string;
  built: boolean;
  sizeBytes: number;
  id: string;
}

/** Builds the image unless one with the same content hash exists (or `force`). */
export async function ensureImage(opts: EnsureImageOptions): Promise<ImageRef> {
  const say = opts.onProgress ?? (() => undefined);
  say('[1/4] resolving inputs (Deno binary, shared libraries, runtime, dependency list)');
  const plan = await planImage(opts);
  const existing = await opts.docker.inspectImage(plan.tag);
  if (existing && !opts.force) {
    say(`image ${plan.tag} is up to date (${(existing.sizeBytes / 1e6).toFixed(1)} MB); nothing to do`);
    return { tag: plan.tag, built: false, sizeBytes: existing.sizeBytes, id: existing.id };
  }
  say(`[2/4] pre-caching ${plan.config.dependencies.length} dependencies with Deno ${plan.denoVersion}`);
  const work = await precache(plan, opts.registries, opts.hostEnv);
  try {
    say(`[3/4] building ${plan.tag} FROM scratch`);
    const entries: ImageEntry[] = [
      ...plan.entries,
      { kind: 'tree', path: DENO_DIR_IN_IMAGE, hostPath: join(work, 'deno-dir') },
    ];
    const context = createBuildContext(entries, plan.dockerfile);
    const labels = { [LABEL_IMAGE_HASH]: plan.hash, [LABEL_IMAGE_RECIPE]: plan.recipeHash };
    await opts.docker.buildImage(
      context,
      plan.tag,
      labels,
      (p) => {
        const line = p.stream?.trim();
        if (line) say(`      ${line}`);
      },
      { nocache: opts.force === true },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  const built = await opts.docker.inspectImage(plan.tag);
  if (!built) throw new ImageMissingError(`the engine reported success but ${plan.tag} is not there`);
  say(`[4/4] built ${plan.tag} (${(built.sizeBytes / 1e6).toFixed(1)} MB)`);
  return { tag: plan.tag, built: true, sizeBytes: built.sizeBytes, id: built.id };
}

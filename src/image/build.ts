import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadImageConfig } from '../config/image-config.js';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_BOM, LABEL_IMAGE_HASH, LABEL_IMAGE_RECIPE, type DockerPort } from '../docker/index.js';
import { packageRef, toCycloneDx, type BomPackage, type ImageBom } from './bom.js';
import { createBuildContext, type ImageEntry } from './context.js';
import { debianPackagesOf, distributionId } from './debian.js';
import { locateDenoBinary } from './deno-binary.js';
import { JSR_DIR_IN_IMAGE } from './jsr-vendor.js';
import { precache, updateLock, type Precached } from './precache.js';
import {
  DENO_DIR_IN_IMAGE,
  IMAGE_REPOSITORY,
  IMPORT_MAP_IN_IMAGE,
  planImage,
  type ImagePlan,
  type PlanOptions,
  type Registries,
} from './plan.js';

export interface EnsureImageOptions extends PlanOptions {
  docker: DockerPort;
  /** where the build downloads dependencies from (the public registries when empty) */
  registries: Registries;
  /** rebuild, bypassing the engine's build cache, even when the tag exists */
  force?: boolean;
  /** first resolve every dependency anew and rewrite the lock file beside image.json */
  updateLock?: boolean;
  hostEnv: NodeJS.ProcessEnv;
  onProgress?: (line: string) => void;
}

export interface ImageRef {
  tag: string;
  built: boolean;
  sizeBytes: number;
  id: string;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The bill of materials of what the build is about to pack. */
async function billOfMaterials(plan: ImagePlan, cached: Precached): Promise<ImageBom> {
  const specifiersOf = new Map<string, string[]>();
  for (const spec of plan.config.dependencies) {
    const ref = cached.roots[spec]!;
    specifiersOf.set(ref, [...(specifiersOf.get(ref) ?? []), spec]);
  }
  const packages: BomPackage[] = [
    ...cached.npm.map((p) => ({
      ecosystem: 'npm' as const,
      name: p.name,
      version: p.version,
      integrity: p.integrity,
      specifiers: [],
      dependencies: p.dependencies.map((d) => `npm:${d}`),
    })),
    ...cached.jsr.packages.map((p) => ({
      ecosystem: 'jsr' as const,
      name: p.name,
      version: p.version,
      integrity: p.integrity,
      specifiers: [],
      dependencies: p.dependencies,
    })),
  ].map((p) => ({ ...p, specifiers: specifiersOf.get(packageRef(p)) ?? [] }));
  const hostFiles = plan.entries.flatMap((e) => (e.kind === 'file' ? [e.hostPath] : []));
  const debian = await debianPackagesOf([...new Set([...plan.tools.map((t) => t.path), ...hostFiles])]);
  const toolPackages = new Set(plan.tools.map((t) => debian.get(t.path)?.name));
  const system = new Map<string, ImageBom['system'][number]>();
  for (const pkg of debian.values())
    if (!toolPackages.has(pkg.name)) system.set(`${pkg.name}:${pkg.architecture}`, pkg);
  return {
    deno: {
      packageName: plan.deno.packageName,
      version: plan.deno.version,
      sha256: await sha256File(plan.denoPath),
    },
    packages,
    tools: plan.tools.map((t) => ({ program: t.program, path: t.path, debian: debian.get(t.path) })),
    system: [...system.values()].sort((a, b) => (a.name < b.name ? -1 : 1)),
    distribution: await distributionId(),
  };
}

/** Resolves the dependencies anew into the lock file, with the Deno of this host. */
async function refreshLock(opts: EnsureImageOptions, say: (line: string) => void): Promise<void> {
  const config = await loadImageConfig(join(opts.imageDir, 'image.json'));
  const deno = locateDenoBinary(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
  say(`[0/4] resolving ${config.dependencies.length} dependencies anew with Deno ${deno.version}`);
  const path = await updateLock({
    denoPath: deno.path,
    dependencies: config.dependencies,
    registries: opts.registries,
    hostEnv: opts.hostEnv,
    imageDir: opts.imageDir,
  });
  say(`      wrote ${path}`);
}

/** Builds the image unless one with the same content hash exists (or `force`). */
export async function ensureImage(opts: EnsureImageOptions): Promise<ImageRef> {
  const say = opts.onProgress ?? (() => undefined);
  if (opts.updateLock) await refreshLock(opts, say);
  say('[1/4] resolving inputs (Deno binary, shared libraries, runtime, dependency list and lock)');
  const plan = await planImage(opts);
  const existing = await opts.docker.inspectImage(plan.tag);
  if (existing && !opts.force) {
    say(`image ${plan.tag} is up to date (${(existing.sizeBytes / 1e6).toFixed(1)} MB); nothing to do`);
    return { tag: plan.tag, built: false, sizeBytes: existing.sizeBytes, id: existing.id };
  }
  say(
    `[2/4] pre-caching ${plan.config.dependencies.length} dependencies from the lock with Deno ${plan.denoVersion}`,
  );
  const cached = await precache({
    denoPath: plan.denoPath,
    dependencies: plan.config.dependencies,
    registries: opts.registries,
    hostEnv: opts.hostEnv,
    lock: plan.lock,
  });
  try {
    const bom = await billOfMaterials(plan, cached);
    say(
      `      ${cached.npm.length} npm and ${cached.jsr.packages.length} JSR packages match the lock (${cached.jsr.files.length} JSR files vendored)`,
    );
    say(`[3/4] building ${plan.tag} FROM scratch`);
    const entries: ImageEntry[] = [
      ...plan.entries,
      { kind: 'tree', path: `${DENO_DIR_IN_IMAGE}/npm`, hostPath: join(cached.denoDir, 'npm') },
      { kind: 'dir', path: JSR_DIR_IN_IMAGE, mode: 0o755 },
      ...cached.jsr.files.map((f): ImageEntry => ({
        kind: 'content',
        path: f.path,
        mode: 0o644,
        content: f.content,
      })),
      {
        kind: 'content',
        path: IMPORT_MAP_IN_IMAGE,
        mode: 0o644,
        content: Buffer.from(`${JSON.stringify({ imports: cached.jsr.imports }, null, 2)}\n`),
      },
    ];
    const context = createBuildContext(entries, plan.dockerfile);
    const labels = {
      [LABEL_IMAGE_HASH]: plan.hash,
      [LABEL_IMAGE_RECIPE]: plan.recipeHash,
      [LABEL_IMAGE_BOM]: JSON.stringify(
        toCycloneDx(bom, { name: IMAGE_REPOSITORY, version: plan.hash.slice(0, 16) }),
      ),
    };
    await opts.docker.buildImage(
      context,
      plan.tag,
      labels,
      (p) => {
        const line = p.stream?.trim();
        // The engine echoes each LABEL step, the bill of materials included: keep progress readable.
        if (line) say(`      ${line.length > 240 ? `${line.slice(0, 240)}…` : line}`);
      },
      { nocache: opts.force === true },
    );
  } finally {
    await rm(cached.work, { recursive: true, force: true });
  }
  const built = await opts.docker.inspectImage(plan.tag);
  if (!built) throw new ImageMissingError(`the engine reported success but ${plan.tag} is not there`);
  say(`[4/4] built ${plan.tag} (${(built.sizeBytes / 1e6).toFixed(1)} MB)`);
  return { tag: plan.tag, built: true, sizeBytes: built.sizeBytes, id: built.id };
}

import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageMissingError } from '../core/index.js';
import type { DenoInfo } from './deno-info.js';
import type { DenoLock } from './lock.js';

/** Where Deno keeps npm packages of the public registry, the one it looks in when no mirror is set. */
const DEFAULT_REGISTRY_DIR = 'registry.npmjs.org';
const DEFAULT_REGISTRY_URL = 'https://registry.npmjs.org/';

export interface NpmPackage {
  name: string;
  version: string;
  /** the lock's integrity: the tarball's sha512 (SRI form) */
  integrity: string;
  /** `name@version` of the packages it depends on */
  dependencies: string[];
}

/** -1, 0 or 1 by semver precedence (build metadata ignored; a prerelease sorts before its release). */
export function compareVersions(a: string, b: string): number {
  const split = (v: string) => {
    const [core = '', pre] = v.split('+')[0]!.split(/-(.*)/s);
    return { nums: core.split('.').map(Number), pre };
  };
  const x = split(a);
  const y = split(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}

/** The fields of a package.json that npm's registry copies into the version's entry, and Deno reads from it. */
const VERSION_FIELDS = [
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
  'bin',
  'os',
  'cpu',
  'scripts',
  'deprecated',
] as const;

/**
 * The packument (Deno's cached registry.json) the image keeps for one package, written from the locked versions'
 * own package.json: run-time resolution has no lock (user code runs with --no-lock), so `npm:zod@^3` must find
 * exactly the locked versions there and no newer one the registry listed on build day. Deno fetches a packument
 * only for packages the lock does not settle, so a frozen build leaves most of them out; and from the package
 * files alone it is the same wherever the tarball came from, with no mirror address (or credential) in it.
 */
export function packumentFor(
  name: string,
  versions: { version: string; integrity: string; packageJson: Record<string, unknown> }[],
): Record<string, unknown> {
  const base = name.split('/').pop()!;
  const entries = versions.map((v) => {
    const fields = Object.fromEntries(
      VERSION_FIELDS.filter((f) => v.packageJson[f] !== undefined).map((f) => [f, v.packageJson[f]]),
    );
    const dist = {
      tarball: `${DEFAULT_REGISTRY_URL}${name}/-/${base}-${v.version}.tgz`,
      integrity: v.integrity,
    };
    return [v.version, { version: v.version, ...fields, dist }];
  });
  const latest = versions
    .map((v) => v.version)
    .sort(compareVersions)
    .at(-1)!;
  return {
    name,
    'dist-tags': { latest },
    versions: Object.fromEntries(entries),
    time: {},
    '_deno.packumentFormat': 'full',
  };
}

/**
 * Makes the npm part of a freshly filled DENO_DIR what the image needs: packages cached from a mirror move to the
 * public registry's place (Deno's cache layout names the registry, and the sandbox gets no registry variable),
 * packages of the lock the graph does not use go, and each package gets its packument from its locked versions.
 * Returns the graph's npm packages with their locked integrity.
 */
export async function settleNpmCache(denoDir: string, info: DenoInfo, lock: DenoLock): Promise<NpmPackage[]> {
  const packages = Object.entries(info.npmPackages).sort(([a], [b]) => (a < b ? -1 : 1));
  if (packages.length === 0) return [];
  const npmDir = join(denoDir, 'npm');
  const roots = new Set<string>();
  for (const [, p] of packages) {
    const suffix = `/${p.name}/${p.version}`;
    if (!p.localPath?.endsWith(suffix))
      throw new ImageMissingError(`npm:${p.name}@${p.version} is not in the build's cache`);
    roots.add(p.localPath.slice(0, -suffix.length));
  }
  if (roots.size !== 1)
    throw new ImageMissingError(`npm packages came from several registries: ${[...roots].join(', ')}`);
  const [root] = roots as Set<string> & [string];
  const target = join(npmDir, DEFAULT_REGISTRY_DIR);
  if (root !== target) {
    await rename(root, join(denoDir, 'npm-registry'));
    await rm(npmDir, { recursive: true, force: true });
    await mkdir(npmDir);
    await rename(join(denoDir, 'npm-registry'), target);
  }
  for (const name of await readdir(npmDir))
    if (name !== DEFAULT_REGISTRY_DIR) await rm(join(npmDir, name), { recursive: true });
  const byName = new Map<string, Parameters<typeof packumentFor>[1]>();
  for (const [id, p] of packages) {
    const integrity = lock.npm[id]?.integrity;
    if (!integrity)
      throw new ImageMissingError(`npm:${id} is in the build's graph but not in the lock file.`);
    const packageJson = JSON.parse(
      await readFile(join(target, p.name, p.version, 'package.json'), 'utf8'),
    ) as Record<string, unknown>;
    byName.set(p.name, [...(byName.get(p.name) ?? []), { version: p.version, integrity, packageJson }]);
  }
  for (const entry of await readdir(target)) {
    const names = entry.startsWith('@')
      ? (await readdir(join(target, entry))).map((n) => `${entry}/${n}`)
      : [entry];
    for (const name of names) if (!byName.has(name)) await rm(join(target, name), { recursive: true });
  }
  for (const [name, versions] of byName) {
    const dir = join(target, name);
    // Only the graph's versions: a frozen build installs every package of the lock.
    const keep = new Set(versions.map((v) => v.version));
    for (const entry of await readdir(dir))
      if (!keep.has(entry)) await rm(join(dir, entry), { recursive: true });
    await writeFile(join(dir, 'registry.json'), JSON.stringify(packumentFor(name, versions)));
  }
  return packages.map(([id, p]) => ({
    name: p.name,
    version: p.version,
    integrity: lock.npm[id]!.integrity,
    dependencies: [...p.dependencies].sort(),
  }));
}

import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ImageMissingError } from '../core/index.js';
import { parseDenoInfo, parseJsrUrl, parseNpmSpecifier, type DenoInfo } from './deno-info.js';
import { vendorJsr, type VendoredJsr } from './jsr-vendor.js';
import { LOCK_FILE, lockMismatch, normalizeLock, type DenoLock } from './lock.js';
import { settleNpmCache, type NpmPackage } from './npm-cache.js';
import type { Registries } from './plan.js';

const run = promisify(execFile);
const DEFAULT_JSR_URL = 'https://jsr.io/';

export interface PrecacheInput {
  denoPath: string;
  dependencies: string[];
  registries: Registries;
  hostEnv: NodeJS.ProcessEnv;
}

/** The environment of the build's Deno: its own DENO_DIR, the mirrors, and how the host reaches a registry. */
function denoEnv(denoDir: string, registries: Registries, hostEnv: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
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
  return env;
}

/** A scratch folder with a module importing every dependency, as the lock's root. */
async function workspace(dependencies: string[]): Promise<{ work: string; deps: string; denoDir: string }> {
  const work = await mkdtemp(join(tmpdir(), 'mcp-conductor-image-'));
  const deps = join(work, 'deps.ts');
  await writeFile(deps, dependencies.map((d) => `import ${JSON.stringify(d)};\n`).join(''));
  return { work, deps, denoDir: join(work, 'deno-dir') };
}

async function deno(denoPath: string, args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<string> {
  return (await run(denoPath, args, { env, cwd, maxBuffer: 64 * 1024 * 1024 })).stdout;
}

const stderrOf = (error: unknown) => String((error as { stderr?: string }).stderr ?? '').trim();

/**
 * Resolves every dependency anew (the newest versions their ranges allow) and writes the lock beside image.json.
 * Returns the lock's path.
 */
export async function updateLock(input: PrecacheInput & { imageDir: string }): Promise<string> {
  const { work, deps, denoDir } = await workspace(input.dependencies);
  const lockPath = join(work, LOCK_FILE);
  try {
    const env = denoEnv(denoDir, input.registries, input.hostEnv);
    await deno(input.denoPath, ['cache', '--no-config', `--lock=${lockPath}`, deps], env, work);
    // No dependencies: Deno writes no lock. An empty one still says "nothing", and lets the build go frozen.
    const text = await readFile(lockPath, 'utf8').catch(() => JSON.stringify({ version: '5' }));
    const target = join(input.imageDir, LOCK_FILE);
    await writeFile(target, normalizeLock(text, input.registries));
    return target;
  } catch (error) {
    throw new ImageMissingError(`resolving the image dependencies failed:\n${stderrOf(error).slice(-2000)}`, {
      cause: error,
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

export interface Precached {
  /** the scratch folder; the caller removes it */
  work: string;
  /** the DENO_DIR for the image: npm packages only, at the public registry's place */
  denoDir: string;
  npm: NpmPackage[];
  jsr: VendoredJsr;
  /** image.json specifier → the package it resolved to (`npm:name@version`, `jsr:@scope/name@version`) */
  roots: Record<string, string>;
}

/** Each image.json specifier's package, from where Deno resolved it. */
function rootsOf(info: DenoInfo, dependencies: string[], jsrBase: string): Record<string, string> {
  const roots: Record<string, string> = {};
  for (const spec of dependencies) {
    const to = info.redirects[spec] ?? '';
    const npm = parseNpmSpecifier(to);
    const jsr = parseJsrUrl(to, jsrBase);
    if (npm?.range) roots[spec] = `npm:${npm.name}@${npm.range}`;
    else if (jsr) roots[spec] = `jsr:${jsr.name}@${jsr.version}`;
    else throw new ImageMissingError(`Deno did not resolve ${spec} to a package (${to || 'no resolution'})`);
  }
  return roots;
}

/**
 * The package an npm lock key names: Deno keys a package resolved against peer dependencies as
 * `name@version_peer@version` (`@octokit/plugin-request-log@4.0.1_@octokit+core@5.2.2`); versions hold no `_`.
 */
export function npmLockPackage(key: string): string {
  return /^(@?[^@]+@[^_]+)_/.exec(key)?.[1] ?? key;
}

/** Packages of the lock the graph no longer uses: a lock that says more than the image holds is out of date. */
function unusedLockEntries(lock: DenoLock, npm: NpmPackage[], jsr: VendoredJsr): string[] {
  const used = new Set([
    ...npm.map((p) => `npm:${p.name}@${p.version}`),
    ...jsr.packages.map((p) => `jsr:${p.name}@${p.version}`),
  ]);
  return [
    ...Object.keys(lock.npm).map((id) => `npm:${npmLockPackage(id)}`),
    ...Object.keys(lock.jsr).map((id) => `jsr:${id}`),
  ].filter((id) => !used.has(id));
}

/**
 * Downloads exactly what the lock pins (`deno cache --frozen`: Deno checks every npm tarball, JSR manifest and JSR
 * file against it) into a fresh DENO_DIR with the same Deno the image runs, then copies the JSR modules out
 * (checked again) and settles the npm cache for the image.
 */
export async function precache(
  input: PrecacheInput & { lock: { path: string; lock: DenoLock } },
): Promise<Precached> {
  const { work, deps, denoDir } = await workspace(input.dependencies);
  try {
    const lockCopy = join(work, LOCK_FILE);
    await copyFile(input.lock.path, lockCopy);
    const env = denoEnv(denoDir, input.registries, input.hostEnv);
    const frozen = ['--no-config', `--lock=${lockCopy}`, '--frozen'];
    let infoText = '{}';
    if (input.dependencies.length > 0) {
      try {
        await deno(input.denoPath, ['cache', ...frozen, deps], env, work);
        infoText = await deno(input.denoPath, ['info', '--json', ...frozen, deps], env, work);
      } catch (error) {
        const stderr = stderrOf(error);
        const mismatch = lockMismatch(stderr, input.lock.path, input.registries);
        throw new ImageMissingError(
          mismatch ?? `pre-caching the image dependencies failed:\n${stderr.slice(-2000)}`,
          { cause: error },
        );
      }
    }
    const info = parseDenoInfo(infoText);
    const jsrBase = input.registries.jsr ?? DEFAULT_JSR_URL;
    const jsr = await vendorJsr(info, input.lock.lock, input.dependencies, jsrBase);
    const npm = await settleNpmCache(denoDir, info, input.lock.lock);
    await mkdir(join(denoDir, 'npm'), { recursive: true }); // the image's npm cache, empty without npm packages
    const unused = unusedLockEntries(input.lock.lock, npm, jsr);
    if (unused.length > 0) {
      throw new ImageMissingError(
        `The lock file ${input.lock.path} pins ${unused.join(', ')}, which image.json no longer uses. Update the lock with \`mcp-conductor image --update-lock\`.`,
      );
    }
    return { work, denoDir, npm, jsr, roots: rootsOf(info, input.dependencies, jsrBase) };
  } catch (error) {
    await rm(work, { recursive: true, force: true });
    throw error;
  }
}

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { locateDenoBinary } from './deno-binary.js';
import { readLock } from './lock.js';
import { npmLockPackage, precache, updateLock } from './precache.js';

const deno = locateDenoBinary(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
const hostEnv = { PATH: process.env.PATH, HOME: process.env.HOME };

describe('pre-caching with no dependencies (no registry needed)', () => {
  it('writes an empty lock, and builds from it an empty npm cache and no JSR files', async () => {
    const imageDir = await mkdtemp(join(tmpdir(), 'precache-'));
    const input = { denoPath: deno.path, dependencies: [], registries: {}, hostEnv };
    const path = await updateLock({ ...input, imageDir });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ version: '5' });
    const cached = await precache({ ...input, lock: await readLock(imageDir) });
    try {
      expect(await readdir(join(cached.denoDir, 'npm'))).toEqual([]);
      expect(cached).toMatchObject({ npm: [], roots: {}, jsr: { packages: [], files: [], imports: {} } });
    } finally {
      await rm(cached.work, { recursive: true, force: true });
    }
  });

  it('refuses a lock that pins packages image.json no longer uses, naming them', async () => {
    const imageDir = await mkdtemp(join(tmpdir(), 'precache-'));
    await writeFile(
      join(imageDir, 'deno.lock'),
      JSON.stringify({ version: '5', npm: { 'left-pad@1.3.0': { integrity: 'sha512-AA==' } } }),
    );
    const input = { denoPath: deno.path, dependencies: [], registries: {}, hostEnv };
    await expect(precache({ ...input, lock: await readLock(imageDir) })).rejects.toThrow(
      /pins npm:left-pad@1\.3\.0, which image\.json no longer uses\. Update the lock with `mcp-conductor image --update-lock`/,
    );
  });
});

describe('npmLockPackage', () => {
  it('reads the package out of a lock key resolved against peer dependencies', () => {
    expect(npmLockPackage('@octokit/plugin-request-log@4.0.1_@octokit+core@5.2.2')).toBe(
      '@octokit/plugin-request-log@4.0.1',
    );
    expect(npmLockPackage('@octokit/plugin-paginate-rest@11.4.4-cjs.2_@octokit+core@5.2.2')).toBe(
      '@octokit/plugin-paginate-rest@11.4.4-cjs.2',
    );
    expect(npmLockPackage('zod@3.25.76')).toBe('zod@3.25.76');
    expect(npmLockPackage('snake_case_pkg@1.0.0')).toBe('snake_case_pkg@1.0.0');
  });
});

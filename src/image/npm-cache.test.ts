import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDenoInfo } from './deno-info.js';
import { DenoLockSchema } from './lock.js';
import { compareVersions, packumentFor, settleNpmCache } from './npm-cache.js';

describe('the npm cache of the image', () => {
  it('orders versions by semver precedence', () => {
    const sorted = ['1.10.0', '1.2.0', '1.2.0-beta.1', '0.9.9', '1.2.0-alpha', '2.0.0+build'].sort(
      compareVersions,
    );
    expect(sorted).toEqual(['0.9.9', '1.2.0-alpha', '1.2.0-beta.1', '1.2.0', '1.10.0', '2.0.0+build']);
  });

  it('writes packuments from the locked versions alone, with public tarball URLs', () => {
    const p = packumentFor('@scope/pkg', [
      {
        version: '1.2.0',
        integrity: 'sha512-X',
        packageJson: {
          name: '@scope/pkg',
          version: '1.2.0',
          dependencies: { dep: '^1' },
          bin: 'cli.js',
          private: true,
        },
      },
    ]);
    expect(p).toEqual({
      name: '@scope/pkg',
      'dist-tags': { latest: '1.2.0' },
      versions: {
        '1.2.0': {
          version: '1.2.0',
          dependencies: { dep: '^1' },
          bin: 'cli.js',
          dist: { tarball: 'https://registry.npmjs.org/@scope/pkg/-/pkg-1.2.0.tgz', integrity: 'sha512-X' },
        },
      },
      time: {},
      '_deno.packumentFormat': 'full',
    });
  });

  it('moves a mirror’s packages to the public registry’s place and keeps only the graph’s', async () => {
    const denoDir = await mkdtemp(join(tmpdir(), 'npm-cache-'));
    const mirror = join(denoDir, 'npm', '4873', 'npm');
    const pkg = async (name: string, version: string, extra: Record<string, unknown> = {}) => {
      await mkdir(join(mirror, name, version), { recursive: true });
      await writeFile(
        join(mirror, name, version, 'package.json'),
        JSON.stringify({ name, version, ...extra }),
      );
    };
    await pkg('app', '1.0.0', { dependencies: { '@s/dep': '^2' } });
    await pkg('@s/dep', '2.1.0');
    await pkg('stale', '0.1.0'); // a frozen build installs every package of the lock
    await writeFile(join(mirror, 'app', 'registry.json'), '{"name":"app","versions":{"9.9.9":{}}}');
    const info = parseDenoInfo(
      JSON.stringify({
        npmPackages: {
          'app@1.0.0': {
            name: 'app',
            version: '1.0.0',
            dependencies: ['@s/dep@2.1.0'],
            localPath: join(mirror, 'app', '1.0.0'),
          },
          '@s/dep@2.1.0': { name: '@s/dep', version: '2.1.0', localPath: join(mirror, '@s/dep', '2.1.0') },
        },
      }),
    );
    const lock = DenoLockSchema.parse({
      version: '5',
      npm: { 'app@1.0.0': { integrity: 'sha512-A' }, '@s/dep@2.1.0': { integrity: 'sha512-D' } },
    });
    const packages = await settleNpmCache(denoDir, info, lock);
    expect(packages).toEqual([
      { name: '@s/dep', version: '2.1.0', integrity: 'sha512-D', dependencies: [] },
      { name: 'app', version: '1.0.0', integrity: 'sha512-A', dependencies: ['@s/dep@2.1.0'] },
    ]);
    expect(await readdir(join(denoDir, 'npm'))).toEqual(['registry.npmjs.org']);
    const root = join(denoDir, 'npm', 'registry.npmjs.org');
    expect((await readdir(root)).sort()).toEqual(['@s', 'app']);
    const app = JSON.parse(await readFile(join(root, 'app', 'registry.json'), 'utf8')) as {
      versions: Record<string, { dependencies: unknown }>;
    };
    expect(Object.keys(app.versions)).toEqual(['1.0.0']);
    expect(app.versions['1.0.0']?.dependencies).toEqual({ '@s/dep': '^2' });
    expect(await readFile(join(root, '@s', 'dep', 'registry.json'), 'utf8')).not.toContain('4873');
  });
});

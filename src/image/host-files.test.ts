import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hostTreeEntries, productionNodeModules, productionPackageDirs } from './host-files.js';

const lock = {
  lockfileVersion: 3,
  packages: {
    '': { name: 'app' },
    'node_modules/a': { version: '1.0.0' },
    'node_modules/a/node_modules/b': { version: '2.0.0' },
    'node_modules/@s/c': { version: '1.0.0', optional: true },
    'node_modules/@s/absent': { version: '1.0.0', optional: true },
    'node_modules/dev-only': { version: '1.0.0', dev: true },
    'node_modules/dev-optional': { version: '1.0.0', devOptional: true },
    'node_modules/linked': { resolved: 'packages/linked', link: true },
  },
};

async function tree(files: Record<string, string>): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'host-files-'));
  for (const [rel, content] of Object.entries(files)) {
    await mkdir(join(root, rel, '..'), { recursive: true });
    await writeFile(join(root, rel), content, { mode: rel.endsWith('.sh') ? 0o755 : 0o644 });
  }
  return root;
}

describe('host files as image entries', () => {
  it('lists the production packages of a lock file, nested ones too, and no dev or linked ones', () => {
    expect(productionPackageDirs(lock)).toEqual([
      'node_modules/@s/absent',
      'node_modules/@s/c',
      'node_modules/a',
      'node_modules/a/node_modules/b',
    ]);
    expect(() => productionPackageDirs({ lockfileVersion: 1, dependencies: {} })).toThrow(
      /lockfileVersion 2/,
    );
  });

  it('walks a directory in a stable order with modes and links, leaving out what skip names', async () => {
    const root = await tree({ 'b/run.sh': '#!', 'b/data.txt': 'x', 'a.js': '1', 'skip/me.js': '2' });
    await symlink('a.js', join(root, 'link.js'));
    const entries = await hostTreeEntries(root, '/app', (rel) => rel === 'skip');
    const shape = (e: (typeof entries)[number]) =>
      e.kind === 'symlink' ? e.target : 'mode' in e ? e.mode.toString(8) : '?';
    expect(entries.map((e) => [e.kind, e.path, shape(e)])).toEqual([
      ['dir', '/app', '755'],
      ['file', '/app/a.js', '644'],
      ['dir', '/app/b', '755'],
      ['file', '/app/b/data.txt', '644'],
      ['file', '/app/b/run.sh', '755'],
      ['symlink', '/app/link.js', 'a.js'],
    ]);
  });

  it('copies the production node_modules that are installed, each package without its nested node_modules', async () => {
    const root = await tree({
      'node_modules/a/index.js': 'a',
      'node_modules/a/node_modules/b/index.js': 'b',
      'node_modules/@s/c/bin/tool': 'c',
      'node_modules/dev-only/index.js': 'dev',
      'node_modules/.bin/x': 'x',
    });
    const entries = await productionNodeModules(root, lock, '/opt/app', (rel) => rel.endsWith('/tool'));
    expect(entries.map((e) => e.path)).toEqual([
      '/opt/app/node_modules',
      '/opt/app/node_modules/@s',
      '/opt/app/node_modules/@s/c',
      '/opt/app/node_modules/@s/c/bin',
      '/opt/app/node_modules/a',
      '/opt/app/node_modules/a/index.js',
      '/opt/app/node_modules/a/node_modules',
      '/opt/app/node_modules/a/node_modules/b',
      '/opt/app/node_modules/a/node_modules/b/index.js',
    ]);
  });
});

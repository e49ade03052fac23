import { chmod, mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageMissingError } from '../core/index.js';
import { resolveTool } from './tools.js';

describe('resolveTool', () => {
  it('copies the listed helpers and data, keeps symlinks, drops excluded parts and links that would dangle', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tool-'));
    const bin = join(root, 'bin', 'mytool');
    const core = join(root, 'lib', 'mytool-core');
    await mkdir(join(root, 'bin'), { recursive: true });
    await mkdir(join(core, 'big'), { recursive: true });
    await writeFile(bin, '#!/nonexistent\n');
    await chmod(bin, 0o4755); // set-uid on the host: dropped in the image
    await writeFile(join(core, 'helper'), 'helper');
    await writeFile(join(core, 'excluded-helper'), 'x');
    await writeFile(join(core, 'big', 'file'), 'x');
    await symlink('helper', join(core, 'alias'));
    await symlink('excluded-helper', join(core, 'dangling-alias'));
    const t = await resolveTool({
      program: bin,
      paths: [core],
      exclude: [join(core, 'excluded-helper'), join(core, 'big')],
    });
    const byPath = new Map(t.entries.map((e) => [e.path, e]));
    expect(t.path).toBe(bin);
    expect(byPath.get(bin)).toMatchObject({ kind: 'file', mode: 0o755 });
    expect(byPath.get(core)).toMatchObject({ kind: 'dir' });
    expect(byPath.get(join(core, 'helper'))).toMatchObject({ kind: 'file' });
    expect(byPath.get(join(core, 'alias'))).toEqual({
      kind: 'symlink',
      path: join(core, 'alias'),
      target: 'helper',
    });
    expect([...byPath.keys()].sort()).toEqual([bin, core, join(core, 'alias'), join(core, 'helper')].sort());
    // scripts are not ELF: no libraries to resolve
    expect(t.libraries).toEqual([]);
  });

  it('resolves the shared libraries of ELF programs, and fails clearly for a program not on PATH', async () => {
    const t = await resolveTool({ program: 'git', paths: [], exclude: [] });
    expect(t.path).toMatch(/\/git$/);
    expect(t.libraries.some((l) => l.includes('libc.so'))).toBe(true);
    await expect(resolveTool({ program: 'no-such-program-here', paths: [], exclude: [] })).rejects.toThrow(
      ImageMissingError,
    );
  });
});

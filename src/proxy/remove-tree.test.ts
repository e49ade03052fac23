import { access, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildDeepTree } from '../../test/fixtures/deep-tree.js';
import { removeTree } from './remove-tree.js';

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('removeTree', () => {
  let base: string;
  afterEach(async () => {
    await removeTree(base);
  });

  it('removes a tree deeper than PATH_MAX, where fs.rm fails with ENAMETOOLONG', async () => {
    base = await mkdtemp(join(tmpdir(), 'rmtree-'));
    const deep = join(base, 'x-deep');
    await buildDeepTree(deep);
    await expect(rm(deep, { recursive: true, force: true })).rejects.toMatchObject({ code: 'ENAMETOOLONG' });
    await removeTree(deep);
    expect(await readdir(base)).toEqual([]);
  });

  it('removes links without following them, and a missing tree is success', async () => {
    base = await mkdtemp(join(tmpdir(), 'rmtree-'));
    const outside = join(base, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'x');
    const tree = join(base, 'x-tree');
    await buildDeepTree(tree, 3);
    await symlink(outside, join(tree, 'link'));
    await removeTree(tree);
    expect(await exists(tree)).toBe(false);
    expect(await exists(join(outside, 'keep'))).toBe(true);
    await removeTree(tree);
  });
});

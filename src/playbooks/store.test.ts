import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPlaybookStore, type CreatePlaybookInput, type PlaybookStoreOptions } from './store.js';

let root: string;
let shippedDir: string;
let dir: string;

const input = (over: Partial<CreatePlaybookInput> = {}): CreatePlaybookInput => ({
  folderName: 'my-book',
  name: 'My book',
  description: 'does a thing',
  content: '# Notes\nuse it',
  code: 'export const answer = 42;\n',
  ...over,
});
const store = (over: Partial<PlaybookStoreOptions> = {}) =>
  createPlaybookStore({ shippedDir, dir, canCreate: true, ...over });

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'playbooks-'));
  shippedDir = join(root, 'shipped');
  dir = join(root, 'tenant');
  await mkdir(join(shippedDir, 'parallel'), { recursive: true });
  await writeFile(
    join(shippedDir, 'parallel', 'playbook.md'),
    '---\nname: Parallel\ndescription: calls at once\ntags:\n  - mcp\n  - "fast"\n---\n# body\n',
  );
  await writeFile(join(shippedDir, 'parallel', 'playbook.ts'), 'export const shipped = true;\n');
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('playbook store', () => {
  it('lists shipped and created playbooks with their front matter, and reads them back', async () => {
    const s = store();
    await s.create(
      input({ tags: ['csv', 'data'], author: 'me', version: '1.0.0', source: 'https://x.test/a' }),
    );
    const list = await s.list();
    expect(list.map((p) => [p.folderName, p.shipped, p.hasCode])).toEqual([
      ['parallel', true, true],
      ['my-book', false, true],
    ]);
    expect(list[0]!.tags).toEqual(['mcp', 'fast']);
    const got = await s.get('my-book');
    expect(got).toMatchObject({ name: 'My book', author: 'me', version: '1.0.0', tags: ['csv', 'data'] });
    expect(got.source).toBe('https://x.test/a');
    expect(got.markdown).toContain('# Notes\nuse it');
    expect(await s.code('my-book')).toBe('export const answer = 42;\n');
    expect(await s.code('parallel')).toBe('export const shipped = true;\n');
  });

  it('reads a SKILL.md folder as a playbook', async () => {
    await mkdir(join(dir, 'a-skill'), { recursive: true });
    await writeFile(
      join(dir, 'a-skill', 'SKILL.md'),
      '---\nname: a-skill\ndescription: "a skill: quoted"\n---\nhi',
    );
    const got = await store().get('a-skill');
    expect(got).toMatchObject({ file: 'SKILL.md', description: 'a skill: quoted', hasCode: false });
    await expect(store().code('a-skill')).rejects.toThrow('playbook "a-skill" has no playbook.ts');
  });

  it.each([['../x'], ['a/b'], ['Upper'], ['a'.repeat(65)], [''], ['a\0b'], ['-lead'], ['.hidden']])(
    'refuses the name %j everywhere',
    async (name) => {
      const s = store();
      const invalid = /invalid playbook name/;
      await expect(s.get(name)).rejects.toThrow(invalid);
      await expect(s.code(name)).rejects.toThrow(invalid);
      await expect(s.create(input({ folderName: name }))).rejects.toThrow(invalid);
      expect(await readdir(root)).toEqual(['shipped']);
    },
  );

  it('accepts a 64-character name', async () => {
    const name = `a${'-'.repeat(62)}z`;
    await store().create(input({ folderName: name }));
    expect((await store().get(name)).folderName).toBe(name);
  });

  it('never follows a symbolic link planted in the store', async () => {
    const secret = join(root, 'secret.txt');
    await writeFile(secret, 'the host secret');
    await mkdir(join(dir, 'linked'), { recursive: true });
    await symlink(secret, join(dir, 'linked', 'playbook.md'));
    await mkdir(join(dir, 'code-link'));
    await writeFile(join(dir, 'code-link', 'playbook.md'), '---\nname: x\n---\n');
    await symlink(secret, join(dir, 'code-link', 'playbook.ts'));
    await symlink(join(shippedDir, 'parallel'), join(dir, 'dir-link'));
    const s = store();
    expect((await s.list()).map((p) => p.folderName)).toEqual(['parallel']);
    await expect(s.get('linked')).rejects.toThrow('is a symbolic link');
    await expect(s.code('code-link')).rejects.toThrow('is a symbolic link');
    await expect(s.get('dir-link')).rejects.toThrow('no playbook "dir-link"');
  });

  it('never follows a tenant store that is itself a link', async () => {
    const elsewhere = join(root, 'elsewhere');
    await mkdir(join(elsewhere, 'other'), { recursive: true });
    await writeFile(join(elsewhere, 'other', 'playbook.md'), 'x');
    await symlink(elsewhere, dir);
    const s = store();
    expect((await s.list()).map((p) => p.folderName)).toEqual(['parallel']);
    await expect(s.get('other')).rejects.toThrow('no playbook "other"');
    await expect(s.create(input())).rejects.toThrow('not a plain directory');
    expect(await readdir(elsewhere)).toEqual(['other']);
  });

  it('refuses oversize notes, code and stores, writing nothing', async () => {
    const s = store({ limits: { maxContentBytes: 200, maxCodeBytes: 100, maxTotalBytes: 300 } });
    await expect(s.create(input({ content: 'x'.repeat(200) }))).rejects.toThrow(
      /notes are \d+ bytes.*at most 200/,
    );
    await expect(s.create(input({ code: 'y'.repeat(101) }))).rejects.toThrow(
      'code is 101 bytes; at most 100',
    );
    await s.create(input({ folderName: 'one', code: 'y'.repeat(100) }));
    await expect(s.create(input({ folderName: 'two', code: 'y'.repeat(100) }))).rejects.toThrow(
      /store would hold \d+ bytes; at most 300/,
    );
    // Replacing a playbook counts its new size, not both.
    await s.create(input({ folderName: 'one', code: 'z'.repeat(100) }));
    expect((await readdir(dir)).sort()).toEqual(['one']);
    expect(await s.code('one')).toBe('z'.repeat(100));
  });

  it('refuses to read an oversize file placed by hand', async () => {
    await mkdir(join(dir, 'big'), { recursive: true });
    await writeFile(join(dir, 'big', 'playbook.md'), 'x'.repeat(300));
    await expect(store({ limits: { maxContentBytes: 200 } }).get('big')).rejects.toThrow(
      'larger than 200 bytes',
    );
  });

  it('never replaces or shadows a shipped playbook', async () => {
    const s = store();
    await expect(s.create(input({ folderName: 'parallel' }))).rejects.toThrow('shipped with the conductor');
    await mkdir(join(dir, 'parallel'), { recursive: true });
    await writeFile(join(dir, 'parallel', 'playbook.ts'), 'export const planted = true;');
    await writeFile(join(dir, 'parallel', 'playbook.md'), 'planted');
    expect(await s.code('parallel')).toBe('export const shipped = true;\n');
    expect((await s.list()).filter((p) => p.folderName === 'parallel')).toHaveLength(1);
  });

  it('refuses create when the policy forbids it, and still reads', async () => {
    const s = store({ canCreate: false });
    await expect(s.create(input())).rejects.toThrow('not allowed by the policy');
    expect((await s.list()).map((p) => p.folderName)).toEqual(['parallel']);
  });

  it('replaces its own playbook whole, leaving no temporary folder', async () => {
    const s = store();
    await s.create(input());
    await s.create(input({ description: 'second', code: undefined }));
    const got = await s.get('my-book');
    expect(got).toMatchObject({ description: 'second', hasCode: false });
    expect(await readdir(dir)).toEqual(['my-book']);
    expect(await readFile(join(dir, 'my-book', 'playbook.md'), 'utf8')).toContain('description: "second"');
  });

  it('keeps front matter values that look like markup as plain text', async () => {
    const s = store();
    await s.create(input({ name: 'a "quoted"\nname', description: 'x: y', tags: ['t1'] }));
    expect(await s.get('my-book')).toMatchObject({
      name: 'a "quoted" name',
      description: 'x: y',
      tags: ['t1'],
    });
  });
});

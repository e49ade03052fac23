import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_RECIPE, type ListedImage } from '../docker/index.js';
import {
  CA_BUNDLE_IN_IMAGE,
  findImage,
  hashRecipe,
  planImage,
  planRecipe,
  type PlanOptions,
} from './plan.js';

const imageDir = new URL('../../images/deno', import.meta.url).pathname;
const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
/** Planning needs only the engine's architecture from Docker. */
const docker: PlanOptions['docker'] = {
  info: () => Promise.resolve({ serverVersion: 'test', architecture: arch, runtimes: ['runc'] }),
};

async function copyImageDir(edit?: (config: Record<string, unknown>) => void): Promise<string> {
  const dir = join(await mkdtemp(join(tmpdir(), 'plan-')), 'deno');
  await cp(imageDir, dir, { recursive: true });
  if (edit) {
    const config = JSON.parse(await readFile(join(dir, 'image.json'), 'utf8')) as Record<string, unknown>;
    edit(config);
    await writeFile(join(dir, 'image.json'), JSON.stringify(config));
  }
  return dir;
}

describe('planImage: content-hash tags', () => {
  it('gives the same tag for unchanged inputs, wherever the image folder is', async () => {
    const a = await planImage({ docker, imageDir, registries: {} });
    const b = await planImage({ docker, imageDir: await copyImageDir(), registries: {} });
    expect(b.tag).toBe(a.tag);
    expect(b.recipeHash).toBe(a.recipeHash);
    expect(a.tag).toMatch(/^mcp-conductor-sandbox:[0-9a-f]{16}$/);
  });

  it('gives a new tag when the dependency list changes', async () => {
    const a = await planImage({ docker, imageDir, registries: {} });
    const dir = await copyImageDir((c) => (c.dependencies = [...(c.dependencies as string[]), 'npm:ms@^2']));
    const b = await planImage({ docker, imageDir: dir, registries: {} });
    expect(b.tag).not.toBe(a.tag);
    expect(b.recipeHash).not.toBe(a.recipeHash);
  });

  it('gives a new tag when the runtime changes', async () => {
    const a = await planImage({ docker, imageDir, registries: {} });
    const dir = await copyImageDir();
    await writeFile(join(dir, 'runtime', 'bootstrap.ts'), '// changed\n', { flag: 'a' });
    expect((await planImage({ docker, imageDir: dir, registries: {} })).tag).not.toBe(a.tag);
  });

  it('gives a new tag when the Dockerfile changes (a mirror sets ENV)', async () => {
    const a = await planImage({ docker, imageDir, registries: {} });
    const b = await planImage({ docker, imageDir, registries: { jsr: 'http://127.0.0.1:9/' } });
    expect(b.dockerfile).toContain('ENV JSR_URL="http://127.0.0.1:9/"');
    expect(b.tag).not.toBe(a.tag);
    // a machine importing the image needs no mirror settings to find it
    expect(b.recipeHash).toBe(a.recipeHash);
  });

  it('hashes the Dockerfile text itself: USER or WORKDIR changes give a new recipe', async () => {
    const r = await planRecipe({ docker, imageDir, registries: {} });
    expect(await hashRecipe(r)).toBe(r.recipeHash);
    expect(
      await hashRecipe({ ...r, dockerfile: r.dockerfile.replace('USER 65534:65534', 'USER 0:0') }),
    ).not.toBe(r.recipeHash);
    expect(
      await hashRecipe({ ...r, dockerfile: r.dockerfile.replace('WORKDIR /', 'WORKDIR /tmp') }),
    ).not.toBe(r.recipeHash);
  });

  it('keeps the recipe but changes the tag when only a host file differs (the CA bundle)', async () => {
    const a = await planImage({ docker, imageDir, registries: {} });
    const other = join(await mkdtemp(join(tmpdir(), 'ca-')), 'ca.crt');
    await writeFile(other, `${await readFile(CA_BUNDLE_IN_IMAGE, 'utf8')}\n# another host\n`);
    const b = await planImage({ docker, imageDir, registries: {}, caBundle: other });
    expect(b.recipeHash).toBe(a.recipeHash);
    expect(b.tag).not.toBe(a.tag);
  });

  it('puts git, its builtin links and templates in, with their libraries, and leaves excluded helpers out', async () => {
    const plan = await planImage({ docker, imageDir, registries: {} });
    const byPath = new Map(plan.entries.map((e) => [e.path, e]));
    expect(byPath.get('/usr/bin/git')).toMatchObject({ kind: 'file', mode: 0o755 });
    // Debian ships the same bytes twice; they are stored once
    const same = (await readFile('/usr/bin/git')).equals(await readFile('/usr/lib/git-core/git'));
    expect(byPath.get('/usr/lib/git-core/git')).toMatchObject(
      same ? { kind: 'hardlink', target: '/usr/bin/git' } : { kind: 'file' },
    );
    expect(byPath.get('/usr/lib/git-core/git-commit')).toMatchObject({ kind: 'symlink', target: 'git' });
    expect(byPath.get('/usr/share/git-core/templates')).toMatchObject({ kind: 'dir' });
    expect(byPath.has('/usr/lib/git-core/git-remote-http')).toBe(false);
    // links to an excluded helper would dangle, so they are left out too
    expect(byPath.has('/usr/lib/git-core/git-remote-https')).toBe(false);
    expect(byPath.has('/usr/lib/git-core/mergetools')).toBe(false);
    expect([...byPath.keys()].some((p) => /\/libz\.so/.test(p))).toBe(true);
  });

  it('fails clearly when a tool or one of its paths is missing on this host', async () => {
    const missing = await copyImageDir((c) => (c.tools = ['no-such-tool-here']));
    await expect(planImage({ docker, imageDir: missing, registries: {} })).rejects.toThrow(ImageMissingError);
    const badPath = await copyImageDir((c) => (c.tools = [{ program: 'git', paths: ['/no/such/dir'] }]));
    await expect(planImage({ docker, imageDir: badPath, registries: {} })).rejects.toThrow('/no/such/dir');
  });
});

describe('findImage: the image the conductor runs', () => {
  const listed = (tag: string, recipe: string, createdMs: number): ListedImage => ({
    id: `sha256:${tag}`,
    tags: [tag],
    labels: { [LABEL_IMAGE_RECIPE]: recipe },
    sizeBytes: 1,
    createdMs,
  });
  const engine = (images: ListedImage[]) => ({
    info: docker.info,
    inspectImage: (ref: string) => {
      const i = images.find((x) => x.tags.includes(ref));
      return Promise.resolve(i && { id: i.id, labels: i.labels, sizeBytes: i.sizeBytes });
    },
    listImages: () => Promise.resolve(images),
  });

  it('prefers the exact tag, else the newest image of the same recipe (an imported one)', async () => {
    const plan = await planImage({ docker, imageDir, registries: {} });
    const older = listed('mcp-conductor-sandbox:aaaa', plan.recipeHash, 1);
    const newer = listed('mcp-conductor-sandbox:bbbb', plan.recipeHash, 2);
    const other = listed('mcp-conductor-sandbox:cccc', 'another recipe', 3);
    const found = await findImage({ docker: engine([older, newer, other]), imageDir, registries: {} });
    expect(found.tag).toBe('mcp-conductor-sandbox:bbbb');
    expect(found.config.dependencies).toEqual(plan.config.dependencies);
    const exact = listed(plan.tag, 'no label needed', 0);
    expect((await findImage({ docker: engine([newer, exact]), imageDir, registries: {} })).tag).toBe(
      plan.tag,
    );
  });

  it('says what to do when nothing fits, naming stale images', async () => {
    const plan = await planImage({ docker, imageDir, registries: {} });
    await expect(findImage({ docker: engine([]), imageDir, registries: {} })).rejects.toThrow(
      `The sandbox image ${plan.tag} is not built yet. Run \`mcp-conductor image\``,
    );
    const stale = listed('mcp-conductor-sandbox:cccc', 'another recipe', 3);
    await expect(findImage({ docker: engine([stale]), imageDir, registries: {} })).rejects.toThrow(
      /not built yet \(the engine has mcp-conductor-sandbox:cccc, built from other inputs\)/,
    );
  });
});

import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageMissingError } from '../core/index.js';
import { LABEL_IMAGE_BOM, LABEL_IMAGE_RECIPE, type ListedImage } from '../docker/index.js';
import { toCycloneDx, type ImageBom } from './bom.js';
import {
  CA_BUNDLE_IN_IMAGE,
  hashRecipe,
  IMAGE_ENV,
  planImage,
  planRecipe,
  type PlanOptions,
} from './plan.js';
import { findImage } from './lookup.js';

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
    const a = await planImage({ docker, imageDir });
    const b = await planImage({ docker, imageDir: await copyImageDir() });
    expect(b.tag).toBe(a.tag);
    expect(b.recipeHash).toBe(a.recipeHash);
    expect(a.tag).toMatch(/^mcp-conductor-sandbox:[0-9a-f]{16}$/);
  });

  it('gives a new tag when the dependency list changes', async () => {
    const a = await planImage({ docker, imageDir });
    const dir = await copyImageDir((c) => (c.dependencies = [...(c.dependencies as string[]), 'npm:ms@^2']));
    const b = await planImage({ docker, imageDir: dir });
    expect(b.tag).not.toBe(a.tag);
    expect(b.recipeHash).not.toBe(a.recipeHash);
  });

  it('gives a new tag when the runtime changes', async () => {
    const a = await planImage({ docker, imageDir });
    const dir = await copyImageDir();
    await writeFile(join(dir, 'runtime', 'bootstrap.ts'), '// changed\n', { flag: 'a' });
    expect((await planImage({ docker, imageDir: dir })).tag).not.toBe(a.tag);
  });

  it('gives a new tag and recipe when the lock changes, even by one integrity', async () => {
    const a = await planImage({ docker, imageDir });
    const dir = await copyImageDir();
    const lock = await readFile(join(dir, 'deno.lock'), 'utf8');
    await writeFile(join(dir, 'deno.lock'), lock.replace(/"sha512-./, '"sha512-0'));
    const b = await planImage({ docker, imageDir: dir });
    expect(b.tag).not.toBe(a.tag);
    expect(b.recipeHash).not.toBe(a.recipeHash);
  });

  it('refuses to plan without a lock, naming the command that makes one', async () => {
    const dir = await copyImageDir();
    await rm(join(dir, 'deno.lock'));
    await expect(planImage({ docker, imageDir: dir })).rejects.toThrow(/no lock file .*--update-lock/);
  });

  it('gives the image a fixed environment: no registry, mirror or host variable', async () => {
    const plan = await planImage({ docker, imageDir });
    const env = plan.dockerfile.split('\n').filter((l) => l.startsWith('ENV '));
    expect(env).toEqual(
      Object.entries(IMAGE_ENV)
        .map(([k, v]) => `ENV ${k}=${JSON.stringify(v)}`)
        .sort(),
    );
    expect(plan.dockerfile).not.toMatch(/REGISTRY|JSR_URL|PROXY/);
  });

  it('hashes the Dockerfile text itself: USER or WORKDIR changes give a new recipe', async () => {
    const r = await planRecipe({ docker, imageDir });
    expect(await hashRecipe(r)).toBe(r.recipeHash);
    expect(
      await hashRecipe({ ...r, dockerfile: r.dockerfile.replace('USER 65534:65534', 'USER 0:0') }),
    ).not.toBe(r.recipeHash);
    expect(
      await hashRecipe({ ...r, dockerfile: r.dockerfile.replace('WORKDIR /', 'WORKDIR /tmp') }),
    ).not.toBe(r.recipeHash);
  });

  it('keeps the recipe but changes the tag when only a host file differs (the CA bundle)', async () => {
    const a = await planImage({ docker, imageDir });
    const other = join(await mkdtemp(join(tmpdir(), 'ca-')), 'ca.crt');
    await writeFile(other, `${await readFile(CA_BUNDLE_IN_IMAGE, 'utf8')}\n# another host\n`);
    const b = await planImage({ docker, imageDir, caBundle: other });
    expect(b.recipeHash).toBe(a.recipeHash);
    expect(b.tag).not.toBe(a.tag);
  });

  it('puts git, its builtin links and templates in, with their libraries, and leaves excluded helpers out', async () => {
    const plan = await planImage({ docker, imageDir });
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
    await expect(planImage({ docker, imageDir: missing })).rejects.toThrow(ImageMissingError);
    const badPath = await copyImageDir((c) => (c.tools = [{ program: 'git', paths: ['/no/such/dir'] }]));
    await expect(planImage({ docker, imageDir: badPath })).rejects.toThrow('/no/such/dir');
  });
});

describe('findImage: the image the conductor runs', () => {
  const bom: ImageBom = {
    deno: { packageName: '@deno/linux-x64-glibc', version: '2.9.6', sha256: 'ab'.repeat(32) },
    packages: [
      {
        ecosystem: 'npm',
        name: 'zod',
        version: '3.25.76',
        integrity: 'sha512-AA==',
        specifiers: ['npm:zod@^3'],
        dependencies: [],
      },
    ],
    tools: [],
    system: [],
    distribution: 'debian',
  };
  const bomLabel = JSON.stringify(toCycloneDx(bom, { name: 'mcp-conductor-sandbox', version: 'x' }));
  const listed = (tag: string, recipe: string, createdMs: number, withBom = true): ListedImage => ({
    id: `sha256:${tag}`,
    tags: [tag],
    labels: { [LABEL_IMAGE_RECIPE]: recipe, ...(withBom ? { [LABEL_IMAGE_BOM]: bomLabel } : {}) },
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
    const plan = await planImage({ docker, imageDir });
    const older = listed('mcp-conductor-sandbox:aaaa', plan.recipeHash, 1);
    const newer = listed('mcp-conductor-sandbox:bbbb', plan.recipeHash, 2);
    const other = listed('mcp-conductor-sandbox:cccc', 'another recipe', 3);
    const found = await findImage({ docker: engine([older, newer, other]), imageDir });
    expect(found.tag).toBe('mcp-conductor-sandbox:bbbb');
    expect(found.config.dependencies).toEqual(plan.config.dependencies);
    // what the tool description lists comes from the image's own bill of materials
    expect(found.bom).toEqual(bom);
    const exact = listed(plan.tag, 'no label needed', 0);
    expect((await findImage({ docker: engine([newer, exact]), imageDir })).tag).toBe(plan.tag);
  });

  it('refuses an image without a readable bill of materials, saying how to rebuild it', async () => {
    const plan = await planImage({ docker, imageDir });
    await expect(
      findImage({ docker: engine([listed(plan.tag, plan.recipeHash, 1, false)]), imageDir }),
    ).rejects.toThrow(/carries no readable bill of materials; rebuild it with `mcp-conductor image --force`/);
  });

  it('says what to do when nothing fits, naming stale images', async () => {
    const plan = await planImage({ docker, imageDir });
    await expect(findImage({ docker: engine([]), imageDir })).rejects.toThrow(
      `The sandbox image ${plan.tag} is not built yet. Run \`mcp-conductor image\``,
    );
    const stale = listed('mcp-conductor-sandbox:cccc', 'another recipe', 3);
    await expect(findImage({ docker: engine([stale]), imageDir })).rejects.toThrow(
      /not built yet \(the engine has mcp-conductor-sandbox:cccc, built from other inputs\)/,
    );
  });
});

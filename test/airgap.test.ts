import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDockerClient, LABEL_IMAGE_RECIPE } from '../src/docker/index.js';
import { CA_BUNDLE_IN_IMAGE, ensureImage, lookUpImage, type ImageRef } from '../src/image/index.js';
import { startLoopbackRegistry, type LoopbackRegistry } from './fixtures/loopback-registry.js';
import { runInImage } from './fixtures/run-in-image.js';
import { cliPath, expectNoLeftovers, repoRoot } from './helpers.js';

const docker = inject('docker');
const exec = promisify(execFile);

/**
 * Imports one package from each mirror, offline: --cached-only and no network. Not --no-remote: Deno (2.9) counts a
 * jsr: package's cached meta.json as a remote module and refuses every jsr: import under it, cached or not.
 */
const importBoth = (image: string) =>
  runInImage(image, [
    'deno',
    'eval',
    '--cached-only',
    '--no-config',
    '--no-lock',
    [
      "const { hello } = await import('jsr:@conductor-test/hello@^1');",
      "const { greet } = await import('npm:@conductor-test/greet@^1');",
      // a module of no package, not in the cache: refused by --cached-only alone
      "let uncached = ''; try { await import('http://127.0.0.1:9/evil.ts'); uncached = 'loaded'; } catch (e) { uncached = e.message.includes('--cached-only') ? 'refused' : e.message; }",
      "console.log(JSON.stringify({ jsr: hello('sandbox'), npm: greet('sandbox'), uncached, ifaces: [...new Set(Deno.networkInterfaces().map((i) => i.name))] }));",
    ].join('\n'),
  ]);

/** The CLI as an admin runs it; async, so the mirror in this process can answer while it works. */
async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const r = await exec(process.execPath, [cliPath, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe.skipIf(!docker)('air-gapped dependencies: loopback JSR and npm mirrors, export and import', () => {
  const port = createDockerClient();
  let registry: LoopbackRegistry;
  let work: string;
  let imageDir: string;
  let ref: ImageRef;
  const created = new Set<string>();

  beforeAll(async () => {
    registry = await startLoopbackRegistry();
    work = await mkdtemp(join(tmpdir(), 'mcpc-airgap-'));
    // A copy of the image folder whose dependency list names the mirrors' packages; the main image is untouched.
    imageDir = join(work, 'deno');
    await cp(join(repoRoot, 'images', 'deno'), imageDir, { recursive: true });
    const config = JSON.parse(await readFile(join(imageDir, 'image.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    config.dependencies = ['jsr:@conductor-test/hello@^1', 'npm:@conductor-test/greet@^1'];
    config.tools = [];
    await writeFile(join(imageDir, 'image.json'), JSON.stringify(config, null, 2));
  });

  afterAll(async () => {
    await registry?.close();
    for (const r of created) await port.removeImage(r);
    if (work) await rm(work, { recursive: true, force: true });
    await expectNoLeftovers();
  });

  const mirrors = () => ({ npm: registry.npmUrl, jsr: registry.jsrUrl });

  it('pre-caches jsr: and npm: packages from the mirrors named by JSR_URL and NPM_CONFIG_REGISTRY', async () => {
    const lines: string[] = [];
    ref = await ensureImage({
      docker: port,
      imageDir,
      registries: mirrors(),
      hostEnv: { PATH: process.env.PATH, HOME: process.env.HOME },
      onProgress: (l) => lines.push(l),
    });
    created.add(ref.tag);
    expect(ref.built).toBe(true);
    expect(lines.join('\n')).toContain('pre-caching 2 dependencies');
    expect(registry.requests).toEqual(
      expect.arrayContaining([
        '/jsr/@conductor-test/hello/meta.json',
        '/jsr/@conductor-test/hello/1.0.0_meta.json',
        '/jsr/@conductor-test/hello/1.0.0/mod.ts',
        '/npm/-/@conductor-test/greet/1.0.0.tgz',
      ]),
    );
  });

  it('an unchanged build is a no-op (same image); --force really rebuilds (a new image)', async () => {
    const again = await ensureImage({
      docker: port,
      imageDir,
      registries: mirrors(),
      hostEnv: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(again).toMatchObject({ tag: ref.tag, built: false, id: ref.id });
    const forced = await ensureImage({
      docker: port,
      imageDir,
      registries: mirrors(),
      hostEnv: { PATH: process.env.PATH, HOME: process.env.HOME },
      force: true,
    });
    expect(forced.tag).toBe(ref.tag);
    expect(forced.built).toBe(true);
    expect(forced.id).not.toBe(ref.id);
    await port.removeImage(ref.id); // the image the forced build replaced, now untagged
    expect(await port.inspectImage(ref.id)).toBeUndefined();
    ref = forced;
  });

  it('imports jsr: and npm: packages offline in a container with no network, the mirrors gone', async () => {
    await registry.close();
    const r = await importBoth(ref.tag);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      jsr: 'HELLO, SANDBOX!',
      npm: 'greetings, sandbox',
      uncached: 'refused',
      ifaces: ['lo'],
    });
  });

  it('moves by `image --export` / `--import`; the imported image is found although host files differ', async () => {
    const file = join(work, 'sandbox-image.tar');
    // Same inputs as the build: a no-op, then the export.
    const exported = await cli(['image', '--image-dir', imageDir, '--export', file], {
      NPM_CONFIG_REGISTRY: registry.npmUrl,
      JSR_URL: registry.jsrUrl,
    });
    expect(exported.stderr).toContain('up to date');
    expect(exported.code).toBe(0);
    expect(exported.stdout.trim()).toBe(ref.tag);
    expect((await stat(file)).size).toBeGreaterThan(50e6);

    await port.removeImage(ref.tag);
    expect(await port.inspectImage(ref.tag)).toBeUndefined();

    // "Another machine": no mirror settings at all.
    const imported = await cli(['image', '--image-dir', imageDir, '--import', file]);
    expect(imported.stderr).toContain(`loaded ${ref.tag}`);
    expect(imported.code).toBe(0);
    expect(imported.stdout.trim()).toBe(ref.tag);
    const info = await port.inspectImage(ref.tag);
    expect(info?.labels[LABEL_IMAGE_RECIPE]).toMatch(/^[0-9a-f]{64}$/);

    // Its own CA bundle (a host file) differs, so the tag it would compute differs: the recipe still finds the image.
    const otherCa = join(work, 'other-ca.crt');
    await writeFile(otherCa, `${await readFile(CA_BUNDLE_IN_IMAGE, 'utf8')}\n# another machine\n`);
    const look = await lookUpImage({ docker: port, imageDir, caBundle: otherCa });
    expect(look.wanted).not.toBe(ref.tag);
    expect(look.state).toBe('compatible');
    expect(look.found?.tag).toBe(ref.tag);

    const r = await importBoth(ref.tag);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ jsr: 'HELLO, SANDBOX!', npm: 'greetings, sandbox' });
  });

  it('refuses an image of another recipe on import, saying why', async () => {
    const file = join(work, 'sandbox-image.tar');
    const other = join(work, 'other');
    await cp(imageDir, other, { recursive: true });
    await writeFile(join(other, 'image.json'), JSON.stringify({ dependencies: [], tools: [] }));
    const r = await cli(['image', '--image-dir', other, '--import', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`loaded ${ref.tag}, but this conductor will not run it`);
  });
});

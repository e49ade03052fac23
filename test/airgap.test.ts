import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadPolicy } from '../src/config/load-policy.js';
import { createEventStream } from '../src/core/index.js';
import { createDockerClient, LABEL_IMAGE_BOM, LABEL_IMAGE_RECIPE } from '../src/docker/index.js';
import {
  CA_BUNDLE_IN_IMAGE,
  ensureImage,
  fromCycloneDx,
  IMAGE_ENV,
  importableSpecifiers,
  lookUpImage,
  readImageBom,
  type EnsureImageOptions,
  type ImageRef,
} from '../src/image/index.js';
import { createSilentLogger } from '../src/obs/index.js';
import { EMPTY_DIRECTORY } from '../src/proxy/index.js';
import {
  createColdSource,
  createContainerBudget,
  createExecutor,
  createLimiter,
  denoCommand,
  ownerToken,
  type SandboxProfile,
} from '../src/sandbox/index.js';
import { wrapUserCode } from '../src/wrap/index.js';
import { FIXTURES_DIR, startLoopbackRegistry, type LoopbackRegistry } from './fixtures/loopback-registry.js';
import { cliPath, expectNoLeftovers, repoRoot } from './helpers.js';

const docker = inject('docker');
const exec = promisify(execFile);
const policiesDir = join(repoRoot, 'policies');

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

/** Code the model might write: jsr: in every advertised form, a JSR package's own jsr: import, an npm package. */
const IMPORTS = [
  "import { hello } from 'jsr:@conductor-test/hello@^1';",
  "import { hello as bare } from 'jsr:@conductor-test/hello';",
  "import { hello as exact } from 'jsr:@conductor-test/hello@1.0.0';",
  "import { wave } from 'jsr:@conductor-test/hello/wave';",
  "import { greet } from 'npm:@conductor-test/greet@^1';",
  "let other = ''; try { await import('jsr:@conductor-test/hello@^2'); } catch (e) { other = String(e.message).includes('--no-remote') ? 'refused' : e.message; }",
  "({ jsr: hello('sandbox'), bare: bare('a'), exact: exact('b'), wave: wave('c'), npm: greet('sandbox'), other })",
].join('\n');

describe.skipIf(!docker)(
  'offline dependencies: lock, jsr: under the shipped policies, bill of materials',
  () => {
    const port = createDockerClient();
    const logger = createSilentLogger();
    let registry: LoopbackRegistry;
    let work: string;
    let mirrorRoot: string;
    let imageDir: string;
    /** stands for a credential in the mirror URL: it must appear nowhere in the image */
    const secret = `mirror-token-${randomBytes(8).toString('hex')}`;
    let ref: ImageRef;
    let runtimes: string[] = [];
    const created = new Set<string>();

    const mirrors = () => ({ NPM_CONFIG_REGISTRY: registry.npmUrl, JSR_URL: registry.jsrUrl });
    const build = (extra: Partial<EnsureImageOptions> = {}) =>
      ensureImage({
        docker: port,
        imageDir,
        registries: { npm: registry.npmUrl, jsr: registry.jsrUrl },
        hostEnv: { PATH: process.env.PATH, HOME: process.env.HOME },
        ...extra,
      });

    /** Runs code as the conductor does: the image, a shipped policy unchanged, the granted permissions. */
    async function runAs(policyName: string, code: string, permissions: SandboxProfile['permissions'] = {}) {
      const socketBaseDir = join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
      await mkdir(socketBaseDir, { recursive: true, mode: 0o700 });
      const deps = {
        docker: port,
        logger,
        instanceId: `airgap-${process.pid}`,
        socketBaseDir,
        startupTimeoutMs: 30_000,
        ownerToken: ownerToken(),
      };
      const profile: SandboxProfile = {
        image: ref.tag,
        policy: await loadPolicy(policyName, { policiesDir }),
        permissions,
        tenant: 'airgap',
        workspaceDir: undefined,
      };
      const executor = createExecutor({
        docker: port,
        logger,
        source: createColdSource(deps, createContainerBudget(2)),
        limiter: createLimiter(1, 4),
        profile,
        directory: EMPTY_DIRECTORY,
        bus: createEventStream(),
        admission: new AbortController().signal,
        termination: new AbortController().signal,
        // Parsed in this process: these run from sources, and the conductor's parser threads need compiled code.
        wrap: (code) => Promise.resolve(wrapUserCode(code)),
      });
      const { result } = await executor.execute({ code });
      await executor.drain();
      return { profile, result };
    }

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'mcpc-airgap-'));
      mirrorRoot = join(work, 'mirror');
      for (const d of ['jsr-mirror', 'npm-mirror'])
        await cp(join(FIXTURES_DIR, d), join(mirrorRoot, d), { recursive: true });
      registry = await startLoopbackRegistry({ root: mirrorRoot, prefix: `/${secret}` });
      // A copy of the image folder whose dependency list names the mirrors' packages, with no lock yet.
      imageDir = join(work, 'deno');
      await cp(join(repoRoot, 'images', 'deno'), imageDir, { recursive: true });
      await rm(join(imageDir, 'deno.lock'));
      const config = JSON.parse(await readFile(join(imageDir, 'image.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      config.dependencies = ['jsr:@conductor-test/hello@^1', 'npm:@conductor-test/greet@^1'];
      await writeFile(join(imageDir, 'image.json'), JSON.stringify(config, null, 2));
      runtimes = (await port.info()).runtimes;
    });

    afterAll(async () => {
      await registry?.close();
      for (const r of created) await port.removeImage(r);
      if (work) await rm(work, { recursive: true, force: true });
      await expectNoLeftovers();
    });

    it('without a lock, refuses to build and names the command that makes one', async () => {
      const r = await cli(['image', '--image-dir', imageDir], mirrors());
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(
        /The image has no lock file \(.*deno\.lock\).*mcp-conductor image --update-lock/,
      );
    });

    it('`image --update-lock` pins every package, transitive ones too, with integrity and no mirror address', async () => {
      const r = await cli(['image', '--image-dir', imageDir, '--update-lock'], mirrors());
      expect(r.stderr).toContain('[0/4] resolving 2 dependencies anew');
      expect(r.code).toBe(0);
      ref = { tag: r.stdout.trim(), built: true, sizeBytes: 0, id: '' };
      created.add(ref.tag);
      const text = await readFile(join(imageDir, 'deno.lock'), 'utf8');
      const lock = JSON.parse(text) as {
        specifiers: Record<string, string>;
        jsr: Record<string, { integrity: string }>;
        npm: Record<string, { integrity: string }>;
      };
      expect(lock.specifiers).toEqual({
        'jsr:@conductor-test/hello@1': '1.0.0',
        'jsr:@conductor-test/shout@1': '1.0.0',
        'npm:@conductor-test/greet@1': '1.0.0',
      });
      expect(lock.jsr['@conductor-test/shout@1.0.0']?.integrity).toMatch(/^[0-9a-f]{64}$/);
      expect(lock.npm['@conductor-test/greet@1.0.0']?.integrity).toMatch(/^sha512-/);
      expect(text).not.toContain(secret);
      expect(text).not.toContain('127.0.0.1');
    });

    it('keeps every mirror address and credential out of the image: environment, labels and files', async () => {
      const { stdout } = await exec('docker', ['image', 'inspect', ref.tag]);
      const [inspected] = JSON.parse(stdout) as [
        { Config: { Env: string[]; Labels: Record<string, string> } },
      ];
      expect(inspected.Config.Env.sort()).toEqual(
        Object.entries(IMAGE_ENV)
          .map(([k, v]) => `${k}=${v}`)
          .sort(),
      );
      expect(JSON.stringify(inspected.Config.Labels)).not.toContain(secret);
      // Every byte of the image (config, labels, every file of every layer), as `docker save` writes it.
      // (a vendored file's text is the control: the scan does see the files)
      const control = 'hello, ${name}';
      const needles = [secret, `127.0.0.1:${new URL(registry.npmUrl).port}`, control].map((n) =>
        Buffer.from(n),
      );
      let tail = Buffer.alloc(0);
      let bytes = 0;
      const found = new Set<string>();
      for await (const chunk of await port.exportImage(ref.tag)) {
        const window = Buffer.concat([tail, chunk as Buffer]);
        for (const n of needles) if (window.includes(n)) found.add(n.toString());
        tail = window.subarray(Math.max(0, window.length - 64));
        bytes += (chunk as Buffer).length;
      }
      expect(bytes).toBeGreaterThan(50e6);
      expect([...found]).toEqual([control]);
      // And what code granted allow-env sees at run time.
      const { result } = await runAs('default', 'Deno.env.toObject()', { env: true });
      expect(result.status).toBe('success');
      expect(Object.keys(result.returnValue as object).sort()).toEqual(
        expect.not.arrayContaining(['NPM_CONFIG_REGISTRY', 'JSR_URL']),
      );
      expect(JSON.stringify(result.returnValue)).not.toContain(secret);
    });

    it('imports jsr: and npm: packages under the shipped default policy, --no-remote and --cached-only on', async () => {
      await registry.close(); // the mirrors are gone from here on: everything comes from the image
      const { profile, result } = await runAs('default', IMPORTS);
      expect(denoCommand(profile)).toEqual(
        expect.arrayContaining(['--no-remote', '--cached-only', '--no-config']),
      );
      expect(result.stderr).toBe('');
      expect(result.returnValue).toEqual({
        jsr: 'HELLO, SANDBOX!',
        bare: 'HELLO, A!',
        exact: 'HELLO, B!',
        wave: 'o/ c',
        npm: 'greetings, sandbox',
        other: 'refused',
      });
    });

    it('imports them under the shipped strict policy (gVisor) too', async (ctx) => {
      if (!runtimes.includes('runsc')) ctx.skip('the engine has no runsc runtime');
      const { result } = await runAs('strict', IMPORTS);
      expect(result.returnValue).toMatchObject({ jsr: 'HELLO, SANDBOX!', npm: 'greetings, sandbox' });
    });

    it('`image --list` and the label agree with the lock and with dpkg; the tool description is built from them', async () => {
      const r = await cli(['image', '--image-dir', imageDir, '--list']);
      expect(r.code).toBe(0);
      const label = (await port.inspectImage(ref.tag))?.labels[LABEL_IMAGE_BOM] ?? '';
      const bom = fromCycloneDx(JSON.parse(label));
      expect(bom).toEqual(await readImageBom(port, ref.tag));
      const lock = JSON.parse(await readFile(join(imageDir, 'deno.lock'), 'utf8')) as {
        jsr: Record<string, { integrity: string }>;
        npm: Record<string, { integrity: string }>;
      };
      const rows = r.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/ {2,}/));
      const listed = rows.filter((c) => c[0] === 'npm' || c[0] === 'jsr').map((c) => c.slice(0, 4).join(' '));
      expect(listed.sort()).toEqual(
        [
          `jsr @conductor-test/hello 1.0.0 ${lock.jsr['@conductor-test/hello@1.0.0']?.integrity}`,
          `jsr @conductor-test/shout 1.0.0 ${lock.jsr['@conductor-test/shout@1.0.0']?.integrity}`,
          `npm @conductor-test/greet 1.0.0 ${lock.npm['@conductor-test/greet@1.0.0']?.integrity}`,
        ].sort(),
      );
      expect(listed.sort()).toEqual(
        bom.packages.map((p) => `${p.ecosystem} ${p.name} ${p.version} ${p.integrity}`).sort(),
      );
      const git = (await exec('dpkg-query', ['-W', '-f', '${Version}', 'git'])).stdout;
      expect(rows.find((c) => c[0] === 'tool')?.slice(0, 3)).toEqual(['tool', 'git', git]);
      expect(bom.tools.map((t) => [t.program, t.debian?.version])).toEqual([['git', git]]);
      expect(rows.find((c) => c[0] === 'deno')?.[2]).toBe(bom.deno.version);
      expect(importableSpecifiers(bom)).toEqual([
        { specifier: 'npm:@conductor-test/greet@^1', name: '@conductor-test/greet', version: '1.0.0' },
        { specifier: 'jsr:@conductor-test/hello@^1', name: '@conductor-test/hello', version: '1.0.0' },
      ]);
    });

    it('fails the build when a download or the lock disagrees, naming the package', async () => {
      registry = await startLoopbackRegistry({ root: mirrorRoot, prefix: `/${secret}` });
      const tamper = async (file: string, edit: (text: string) => string, expected: RegExp) => {
        const path = join(mirrorRoot, file);
        const before = await readFile(path, 'utf8');
        await writeFile(path, edit(before));
        try {
          await expect(build({ force: true })).rejects.toThrow(expected);
        } finally {
          await writeFile(path, before);
        }
      };
      // one file of a JSR package served with other bytes (its manifest then differs from the locked one)
      await tamper(
        'jsr-mirror/@conductor-test/shout/1.0.0/mod.ts',
        (t) => t.replace('toUpperCase', 'toLowerCase'),
        /^jsr:@conductor-test\/shout@1\.0\.0 does not match the lock file .*deno\.lock/,
      );
      // one file of an npm package (its tarball then has another integrity)
      await tamper(
        'npm-mirror/@conductor-test/greet/1.0.0/index.js',
        (t) => t.replace('greetings', 'pwned'),
        /^npm:@conductor-test\/greet@1\.0\.0 does not match the lock file/,
      );
      // the lock itself
      const lockPath = join(imageDir, 'deno.lock');
      const lock = await readFile(lockPath, 'utf8');
      const hello = (JSON.parse(lock) as { jsr: Record<string, { integrity: string }> }).jsr[
        '@conductor-test/hello@1.0.0'
      ]!;
      await writeFile(lockPath, lock.replace(hello.integrity, '0'.repeat(64)));
      try {
        await expect(build()).rejects.toThrow(
          /^jsr:@conductor-test\/hello@1\.0\.0 does not match the lock file/,
        );
      } finally {
        await writeFile(lockPath, lock);
      }
    });

    it('a fresh build from the same lock gives the same tag and packages, whatever the mirror published since', async () => {
      const before = (await port.inspectImage(ref.tag))?.labels[LABEL_IMAGE_BOM];
      // newer versions within the locked ranges appear on the mirror
      for (const [from, to] of [
        ['npm-mirror/@conductor-test/greet/1.0.0', 'npm-mirror/@conductor-test/greet/1.1.0'],
        ['jsr-mirror/@conductor-test/shout/1.0.0', 'jsr-mirror/@conductor-test/shout/1.1.0'],
      ] as const) {
        await cp(join(mirrorRoot, from), join(mirrorRoot, to), { recursive: true });
      }
      const pkg = join(mirrorRoot, 'npm-mirror/@conductor-test/greet/1.1.0/package.json');
      await writeFile(pkg, (await readFile(pkg, 'utf8')).replace('"1.0.0"', '"1.1.0"'));
      await writeFile(
        join(mirrorRoot, 'npm-mirror/@conductor-test/greet/1.1.0/index.js'),
        'export const greet = () => "1.1.0";\n',
      );
      await port.removeImage(ref.tag);
      const again = await build();
      expect(again).toMatchObject({ tag: ref.tag, built: true });
      expect(await build()).toMatchObject({ tag: ref.tag, built: false, id: again.id }); // unchanged: a no-op
      expect((await port.inspectImage(ref.tag))?.labels[LABEL_IMAGE_BOM]).toBe(before);
      await registry.close();
      const { result } = await runAs('default', IMPORTS);
      expect(result.returnValue).toMatchObject({ jsr: 'HELLO, SANDBOX!', npm: 'greetings, sandbox' });
      ref = again;
    });

    it('moves by `image --export` / `--import`; the imported image shows the same packages in `doctor`', async () => {
      const file = join(work, 'sandbox-image.tar');
      const listedHere = (await cli(['image', '--image-dir', imageDir, '--list'])).stdout;
      const exported = await cli(['image', '--image-dir', imageDir, '--export', file]);
      expect(exported.stderr).toContain('up to date');
      expect(exported.code).toBe(0);
      expect((await stat(file)).size).toBeGreaterThan(50e6);

      await port.removeImage(ref.tag);
      expect(await port.inspectImage(ref.tag)).toBeUndefined();

      // "Another machine": no mirror settings at all.
      const imported = await cli(['image', '--image-dir', imageDir, '--import', file]);
      expect(imported.stderr).toContain(`loaded ${ref.tag}`);
      expect(imported.code).toBe(0);
      expect(imported.stdout.trim()).toBe(ref.tag);
      expect((await port.inspectImage(ref.tag))?.labels[LABEL_IMAGE_RECIPE]).toMatch(/^[0-9a-f]{64}$/);

      // Its own CA bundle (a host file) differs, so the tag it would compute differs: the recipe still finds the image.
      const otherCa = join(work, 'other-ca.crt');
      await writeFile(otherCa, `${await readFile(CA_BUNDLE_IN_IMAGE, 'utf8')}\n# another machine\n`);
      const look = await lookUpImage({ docker: port, imageDir, caBundle: otherCa });
      expect(look).toMatchObject({ state: 'compatible', found: { tag: ref.tag } });
      expect(look.wanted).not.toBe(ref.tag);

      const doctor = await cli(['doctor', '--image-dir', imageDir], {
        MCP_CONDUCTOR_WORKSPACE: join(work, 'ws'),
      });
      const line = doctor.stdout.split('\n').find((l) => l.startsWith('ok   packages'));
      const inDoctor = /package\(s\): ([^;]+);/.exec(line ?? '')?.[1]?.split(', ');
      const inList = listedHere
        .trim()
        .split('\n')
        .map((l) => l.split(/ {2,}/))
        .filter((c) => c[0] === 'npm' || c[0] === 'jsr')
        .map((c) => `${c[0]}:${c[1]}@${c[2]}`);
      expect(inDoctor?.sort()).toEqual(inList.sort());
      expect(line).toMatch(/tools: git \(deb git \S+\)/);
      expect((await cli(['image', '--image-dir', imageDir, '--list'])).stdout).toBe(listedHere);
    });

    it('refuses an image of another recipe on import, saying why', async () => {
      const file = join(work, 'sandbox-image.tar');
      const other = join(work, 'other');
      await cp(imageDir, other, { recursive: true });
      await writeFile(join(other, 'image.json'), JSON.stringify({ dependencies: [], tools: [] }));
      await writeFile(join(other, 'deno.lock'), JSON.stringify({ version: '5' }));
      const r = await cli(['image', '--image-dir', other, '--import', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`loaded ${ref.tag}, but this conductor will not run it`);
    });
  },
);

import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDenoInfo } from './deno-info.js';
import { vendorJsr } from './jsr-vendor.js';
import { DenoLockSchema } from './lock.js';

const JSR = 'http://127.0.0.1:4874/jsr/';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** A Deno global cache holding two JSR packages the way Deno 2.9 lays it out, and the graph `deno info` gives. */
async function cacheWith(
  files: Record<string, string>,
  edit: (cached: Record<string, string>) => void = () => {},
) {
  const dir = join(await mkdtemp(join(tmpdir(), 'jsr-vendor-')), 'remote', 'http', '127.0.0.1_PORT4874');
  await mkdir(dir, { recursive: true });
  const metas: Record<string, string> = {};
  const packages = new Map<string, Record<string, { size: number; checksum: string }>>();
  for (const [path, body] of Object.entries(files)) {
    const [, pkg, file] = /^(@[^/]+\/[^/]+\/[^/]+)(\/.+)$/.exec(path)!;
    packages.set(pkg!, {
      ...packages.get(pkg!),
      [file!]: { size: body.length, checksum: `sha256-${sha256(body)}` },
    });
  }
  const exportsOf: Record<string, Record<string, string>> = {
    '@t/hello/1.0.0': { '.': './mod.ts', './wave': './wave.ts', './unused': './unused.ts' },
    '@t/shout/1.0.0': { '.': './mod.ts' },
  };
  for (const [pkg, manifest] of packages)
    metas[`${pkg}_meta.json`] = JSON.stringify({ manifest, exports: exportsOf[pkg] });
  const cached: Record<string, string> = { ...files, ...metas };
  edit(cached);
  const local = (path: string) => join(dir, sha256(new URL(`${JSR}${path}`).pathname));
  for (const [path, body] of Object.entries(cached))
    await writeFile(local(path), `${body}\n// denoCacheMetadata={"url":"${JSR}${path}"}`);
  const integrity = (pkg: string) => sha256(metas[`${pkg}_meta.json`]!);
  const info = parseDenoInfo(
    JSON.stringify({
      modules: [
        { specifier: 'file:///work/deps.ts', dependencies: [{ specifier: 'jsr:@t/hello@^1' }] },
        {
          specifier: `${JSR}@t/hello/1.0.0/mod.ts`,
          local: local('@t/hello/1.0.0/mod.ts'),
          dependencies: [{ specifier: 'jsr:@t/shout@^1' }, { specifier: './wave.ts' }],
        },
        { specifier: `${JSR}@t/hello/1.0.0/wave.ts`, local: local('@t/hello/1.0.0/wave.ts') },
        { specifier: `${JSR}@t/shout/1.0.0/mod.ts`, local: local('@t/shout/1.0.0/mod.ts') },
      ],
      redirects: {
        'jsr:@t/hello@^1': `${JSR}@t/hello/1.0.0/mod.ts`,
        'jsr:@t/shout@^1': `${JSR}@t/shout/1.0.0/mod.ts`,
      },
    }),
  );
  const lock = DenoLockSchema.parse({
    version: '5',
    jsr: {
      '@t/hello@1.0.0': { integrity: integrity('@t/hello/1.0.0'), dependencies: ['jsr:@t/shout'] },
      '@t/shout@1.0.0': { integrity: integrity('@t/shout/1.0.0') },
    },
  });
  return { info, lock };
}

const FILES = {
  '@t/hello/1.0.0/mod.ts':
    "import { shout } from 'jsr:@t/shout@^1';\nexport { wave } from './wave.ts';\nexport const hello = shout;",
  '@t/hello/1.0.0/wave.ts': 'export const wave = 1;',
  '@t/hello/1.0.0/unused.ts': 'export const unused = 1;',
  '@t/shout/1.0.0/mod.ts': 'export const shout = (s: string) => s.toUpperCase();',
};

describe('vendoring JSR packages into the image', () => {
  it('copies each module byte for byte and maps the listed, range-less, exact and internal specifiers', async () => {
    const { info, lock } = await cacheWith(FILES);
    const v = await vendorJsr(info, lock, ['jsr:@t/hello@^1'], JSR);
    expect(v.files.map((f) => [f.path, f.content.toString()])).toEqual([
      ['/opt/conductor/jsr/@t/hello/1.0.0/mod.ts', FILES['@t/hello/1.0.0/mod.ts']],
      ['/opt/conductor/jsr/@t/hello/1.0.0/wave.ts', FILES['@t/hello/1.0.0/wave.ts']],
      ['/opt/conductor/jsr/@t/shout/1.0.0/mod.ts', FILES['@t/shout/1.0.0/mod.ts']],
    ]);
    const hello = 'file:///opt/conductor/jsr/@t/hello/1.0.0/mod.ts';
    const wave = 'file:///opt/conductor/jsr/@t/hello/1.0.0/wave.ts';
    expect(v.imports).toEqual({
      'jsr:@t/hello': hello,
      'jsr:@t/hello@1.0.0': hello,
      'jsr:@t/hello@^1': hello,
      // an export the graph holds; ./unused is not in the image, so it is not mapped
      'jsr:@t/hello/wave': wave,
      'jsr:@t/hello@1.0.0/wave': wave,
      'jsr:@t/hello@^1/wave': wave,
      'jsr:@t/shout@^1': 'file:///opt/conductor/jsr/@t/shout/1.0.0/mod.ts',
    });
    expect(v.packages).toEqual([
      expect.objectContaining({
        name: '@t/hello',
        version: '1.0.0',
        files: 2,
        dependencies: ['jsr:@t/shout@1.0.0'],
      }),
      expect.objectContaining({ name: '@t/shout', version: '1.0.0', files: 1, dependencies: [] }),
    ]);
  });

  it('refuses a cached file that differs from its locked checksum, naming the package and file', async () => {
    const { info, lock } = await cacheWith(
      FILES,
      (c) => (c['@t/shout/1.0.0/mod.ts'] += '\nfetch("https://evil.example");'),
    );
    await expect(vendorJsr(info, lock, ['jsr:@t/hello@^1'], JSR)).rejects.toThrow(
      "jsr:@t/shout@1.0.0 in the build's cache does not match the lock: its file /mod.ts differs from the checksum in the locked manifest.",
    );
  });

  it('refuses a cached manifest that differs from the lock, naming the package', async () => {
    const { info, lock } = await cacheWith(FILES, (c) => {
      const meta = JSON.parse(c['@t/hello/1.0.0_meta.json']!) as {
        manifest: Record<string, { checksum: string }>;
      };
      meta.manifest['/mod.ts']!.checksum = 'sha256-0';
      c['@t/hello/1.0.0_meta.json'] = JSON.stringify(meta);
    });
    await expect(vendorJsr(info, lock, ['jsr:@t/hello@^1'], JSR)).rejects.toThrow(
      /^jsr:@t\/hello@1\.0\.0 in the build's cache does not match the lock \(its version manifest has sha256 /,
    );
  });
});

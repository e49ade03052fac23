import { afterAll, describe, expect, inject, it } from 'vitest';
import { runInImage as runFixture } from './fixtures/run-in-image.js';
import { expectNoLeftovers } from './helpers.js';

const docker = inject('docker');
const imageTag = inject('imageTag');

const runInImage = (cmd: string[]) => runFixture(imageTag, cmd);

describe.skipIf(!docker)('the sandbox image', () => {
  afterAll(async () => {
    await expectNoLeftovers();
  });

  it('runs Deno as 65534 with no network and a read-only root, importing a pre-cached package offline', async () => {
    const code = [
      "const { z } = await import('npm:zod@^3');",
      "let rootWritable = true; try { Deno.writeTextFileSync('/x', 'x'); } catch { rootWritable = false; }",
      "let shell = true; try { Deno.statSync('/bin/sh'); } catch { shell = false; }",
      'console.log(JSON.stringify({ uid: Deno.uid(), zod: z.number().parse(7), rootWritable, shell, ifaces: [...new Set(Deno.networkInterfaces().map((i) => i.name))] }));',
    ].join('\n');
    const r = await runInImage([
      'deno',
      'eval',
      '--cached-only',
      '--no-remote',
      '--no-config',
      '--no-lock',
      '--allow-sys=uid,networkInterfaces',
      '--allow-read=/bin',
      '--allow-write=/x',
      code,
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      uid: 65534,
      zod: 7,
      rootWritable: false,
      shell: false,
      ifaces: ['lo'],
    });
  });

  it('has only what it needs: no package manager or shell, and the runtime in place', async () => {
    const r = await runInImage([
      'deno',
      'eval',
      '--no-config',
      '--allow-read',
      "const walk = (d) => [...Deno.readDirSync(d)].map((e) => e.name).sort(); console.log(JSON.stringify({ root: walk('/'), bin: walk('/usr/local/bin'), usrBin: walk('/usr/bin'), runtime: walk('/opt/conductor/runtime').includes('bootstrap.ts'), runtimeEmitted: walk('/opt/conductor/deno-dir/gen/file/opt/conductor/runtime'), passwd: Deno.readTextFileSync('/etc/passwd') }));",
    ]);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as {
      root: string[];
      bin: string[];
      usrBin: string[];
      runtime: boolean;
      runtimeEmitted: string[];
      passwd: string;
    };
    expect(v.bin).toEqual(['deno']);
    // the tools of image.json, nothing more
    expect(v.usrBin).toEqual(['git']);
    expect(v.runtime).toBe(true);
    // transpiled at build time: a sandbox never transpiles (nor tries to cache) its own runtime at start
    expect(v.runtimeEmitted).toEqual(expect.arrayContaining(['bootstrap.ts.js', 'mcp-factory.ts.js']));
    expect(v.passwd).toContain('nobody:x:65534:65534');
    expect(v.root).not.toContain('bin');
    expect(v.root).toEqual(expect.arrayContaining(['etc', 'lib', 'opt', 'run', 'tmp', 'usr', 'workspace']));
  });
});

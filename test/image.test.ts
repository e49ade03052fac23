import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDockerClient, createDemuxer } from '../src/docker/index.js';
import { expectNoLeftovers } from './helpers.js';

const docker = inject('docker');
const imageTag = inject('imageTag');

/** Runs one command in a locked-down container of the sandbox image, as the conductor would, and collects output. */
async function runInImage(cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const port = createDockerClient();
  const id = await port.createContainer({
    image: imageTag,
    cmd,
    env: [],
    labels: { 'mcp-conductor.managed': 'true', 'mcp-conductor.execution-id': 'image-test' },
    user: '65534:65534',
    runtime: 'runc',
    network: 'none',
    memoryBytes: 256 * 1024 * 1024,
    nanoCpus: 1e9,
    pidsLimit: 64,
    tmpfs: { '/tmp': 'rw,noexec,nosuid,nodev,size=16m,uid=65534,gid=65534,mode=0700' },
    binds: [],
    workingDir: '/',
  });
  try {
    const out = { stdout: '', stderr: '' };
    const stream = await port.attach(id);
    const demux = createDemuxer((kind, data) => (out[kind] += data.toString()));
    stream.on('data', (c: Buffer) => demux.push(c));
    const ended = new Promise((r) => stream.once('end', r));
    const exited = port.wait(id);
    await port.start(id);
    const code = await exited;
    await Promise.race([ended, new Promise((r) => setTimeout(r, 1000))]);
    return { code, ...out };
  } finally {
    await port.remove(id);
  }
}

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
      "const walk = (d) => [...Deno.readDirSync(d)].map((e) => e.name).sort(); console.log(JSON.stringify({ root: walk('/'), bin: walk('/usr/local/bin'), runtime: walk('/opt/conductor/runtime').includes('bootstrap.ts'), passwd: Deno.readTextFileSync('/etc/passwd') }));",
    ]);
    expect(r.code).toBe(0);
    const v = JSON.parse(r.stdout) as { root: string[]; bin: string[]; runtime: boolean; passwd: string };
    expect(v.bin).toEqual(['deno']);
    expect(v.runtime).toBe(true);
    expect(v.passwd).toContain('nobody:x:65534:65534');
    expect(v.root).not.toContain('bin');
    expect(v.root).toEqual(expect.arrayContaining(['etc', 'lib', 'opt', 'run', 'tmp', 'usr', 'workspace']));
  });
});

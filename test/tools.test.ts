import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, startConductor, type Conductor } from './helpers.js';

const docker = inject('docker');
const run = promisify(execFile);

/** Sandbox code: runs git through Deno.Command and returns what each call printed. */
const gitScript = (dir: string) => `
const git = (...args: string[]) => {
  const o = new Deno.Command('git', { args, cwd: ${JSON.stringify(dir)} }).outputSync();
  const text = (b: Uint8Array) => new TextDecoder().decode(b).trim();
  return { code: o.code, out: text(o.stdout), err: text(o.stderr) };
};
Deno.mkdirSync(${JSON.stringify(dir)}, { recursive: true });
const init = git('init', '-b', 'main');
Deno.writeTextFileSync(${JSON.stringify(`${dir}/notes.txt`)}, 'written in the sandbox\\n');
const add = git('add', 'notes.txt');
const commit = git('-c', 'user.name=Sandbox', '-c', 'user.email=sandbox@example.invalid', 'commit', '-q', '-m', 'first from the sandbox');
const log = git('log', '--format=%an <%ae> %s');
return { init, add, commit, log };
`;

describe.skipIf(!docker)('CLI tools in the sandbox: git under allow-run=git', () => {
  let granted: Conductor;
  let refused: Conductor;
  let workspace: string;

  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'mcpc-ws-git-'));
    granted = await startConductor('stdio', {
      MCP_CONDUCTOR_WORKSPACE: workspace,
      MCP_CONDUCTOR_POOL_SIZE: '0',
      MCP_CONDUCTOR_RUN_ARGS: 'allow-run=git,allow-read=/workspace,/tmp,allow-write=/workspace,/tmp',
    });
    refused = await startConductor('stdio', {
      MCP_CONDUCTOR_POOL_SIZE: '0',
      MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,/tmp,/usr/bin,allow-write=/workspace,/tmp',
    });
  });

  afterAll(async () => {
    await granted?.close();
    await refused?.close();
    await expectNoLeftovers();
  });

  it('runs git init, commit and log in /tmp', async () => {
    const r = await granted.run(gitScript('/tmp/repo'));
    expect(r.result.status).toBe('success');
    const v = r.result.returnValue as Record<string, { code: number; out: string; err: string }>;
    expect(v.init).toEqual({ code: 0, out: 'Initialized empty Git repository in /tmp/repo/.git/', err: '' });
    expect(v.add).toEqual({ code: 0, out: '', err: '' });
    expect(v.commit).toEqual({ code: 0, out: '', err: '' });
    expect(v.log).toEqual({
      code: 0,
      out: 'Sandbox <sandbox@example.invalid> first from the sandbox',
      err: '',
    });
  });

  it('commits into /workspace, and the host sees the commit', async () => {
    const r = await granted.run(gitScript('/workspace/project'));
    expect(r.result.status).toBe('success');
    expect((r.result.returnValue as { commit: { code: number } }).commit.code).toBe(0);
    const host = await run('git', [
      '-c',
      'safe.directory=*',
      '-C',
      join(workspace, 'project'),
      'log',
      '--format=%s',
    ]);
    expect(host.stdout.trim()).toBe('first from the sandbox');
  });

  it('grants git only: git-core by its other path and deno itself are refused; there is no shell', async () => {
    const r = await granted.run(`
const tryRun = (cmd: string) => {
  try { new Deno.Command(cmd, { args: ['--version'] }).outputSync(); return 'ran'; }
  catch (e) { return (e as Error).name; }
};
return { gitCore: tryRun('/usr/lib/git-core/git'), deno: tryRun('deno'), sh: tryRun('sh') };
`);
    expect(r.result.status).toBe('success');
    const v = r.result.returnValue as Record<string, string>;
    expect(v.gitCore).toBe('NotCapable');
    expect(v.deno).toBe('NotCapable');
    // no shell in the image at all, so git's `!` aliases and shell hooks have nothing to run
    expect(v.sh).toBe('NotFound');
  });

  it('refuses git without allow-run=git, although git is in the image', async () => {
    const r = await refused.run(`
const present = Deno.statSync('/usr/bin/git').isFile;
let refusal = '';
try { new Deno.Command('git', { args: ['--version'] }).outputSync(); refusal = 'ran'; }
catch (e) { refusal = (e as Error).name + ': ' + (e as Error).message; }
return { present, refusal };
`);
    expect(r.result.status).toBe('success');
    const v = r.result.returnValue as { present: boolean; refusal: string };
    expect(v.present).toBe(true);
    expect(v.refusal).toMatch(/^(NotCapable|PermissionDenied): .*run access to "git"/);
  });
});

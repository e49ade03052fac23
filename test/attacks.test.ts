import { mkdtemp, symlink, writeFile, chown } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, startConductor, type Conductor } from './helpers.js';

const docker = inject('docker');

/**
 * Hostile code against the real server, under the default policy (runc) and the strict one (gVisor). Each attack
 * must end as a clear result, the limit must hold, and the server must keep serving.
 */
describe.skipIf(!docker).each(['default', 'strict'])('attack suite under the %s policy', (policy) => {
  let c: Conductor;
  let workspace: string;

  beforeAll(async () => {
    workspace = await mkdtemp(join(tmpdir(), 'mcpc-attack-'));
    await chown(workspace, 65534, 65534);
    // Planted by "the host or a tool": a link out of the workspace, and a config file that would change resolution.
    await symlink('/', join(workspace, 'up'));
    await writeFile(
      join(workspace, 'deno.json'),
      JSON.stringify({ imports: { zod: 'data:text/javascript,export const z = 1' } }),
    );
    c = await startConductor('stdio', {
      MCP_CONDUCTOR_POLICY: policy,
      MCP_CONDUCTOR_WORKSPACE: workspace,
      MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,/tmp,allow-write=/tmp',
      HOST_SECRET_TOKEN: 'do-not-leak-42',
    });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('memory bomb → out of memory, reported as such', async () => {
    const r = await c.run(
      'const keep = [];\nwhile (true) keep.push(new Float64Array(1 << 20).fill(1.5));',
      60_000,
    );
    expect(r.result.status).toBe('error');
    expect(r.result.error?.name).toBe('OutOfMemoryError');
  });

  it('tmpfs fill → the write fails with no space, the host is untouched', async () => {
    const r = await c.run(
      "const chunk = new Uint8Array(1 << 20);\nconst f = await Deno.open('/tmp/fill', { write: true, create: true });\nlet mb = 0;\ntry { while (true) { await f.write(chunk); mb++; } } catch (e) { return { mb, error: String(e) }; }",
    );
    const v = r.result.returnValue as { mb: number; error: string };
    expect(v.error).toMatch(/No space left|space/i);
    expect(v.mb).toBeLessThanOrEqual(policy === 'strict' ? 16 : 64);
  });

  it('worker bomb → bounded by memory and pids, the server survives', async () => {
    const r = await c.run(
      "const src = 'data:text/javascript,' + encodeURIComponent('setInterval(() => {}, 1000)');\nconst ws = [];\nfor (let i = 0; i < 2000; i++) ws.push(new Worker(src, { type: 'module' }));\nawait new Promise((r) => setTimeout(r, 1000));\nws.length",
      20_000,
    );
    expect(['error', 'timeout', 'success']).toContain(r.result.status);
    expect((await c.run('1 + 1')).result.returnValue).toBe(2);
  });

  it('10 MB on both streams → capped and flagged', async () => {
    const r = await c.run(
      "const s = 'z'.repeat(1 << 20);\nfor (let i = 0; i < 10; i++) { console.log(s); console.error(s); }\n'ok'",
      60_000,
    );
    expect(r.result.returnValue).toBe('ok');
    expect(r.result.truncated.stdout && r.result.truncated.stderr).toBe(true);
    expect(r.text.length).toBeLessThan(200_000);
  });

  it('100 MB return value → truncated, bounded', async () => {
    const r = await c.run("'x'.repeat(100 * 1024 * 1024)", 60_000);
    expect(['success', 'error']).toContain(r.result.status);
    if (r.result.status === 'success') expect(r.result.truncated.returnValue).toBe(true);
    else expect(r.result.error?.name).toBe('OutOfMemoryError');
    expect(r.text.length).toBeLessThan(300_000);
  });

  it('5 MB of source → refused before any container starts', async () => {
    const r = await c.run(`const a = "${'a'.repeat(5 * 1024 * 1024)}";\na.length`);
    expect(r.result.error?.name).toBe('CodeTooLargeError');
  });

  it('a busy loop that ignores SIGTERM → killed at the deadline', async () => {
    const r = await c.run(
      "try { Deno.addSignalListener('SIGTERM', () => {}); } catch {}\nwhile (true) {}",
      1500,
    );
    expect(r.result.status).toBe('timeout');
  });

  it('secrets and host files are out of reach', async () => {
    const r = await c.run(`
const tryRead = async (p) => { try { return (await Deno.readTextFile(p)).slice(0, 2000); } catch (e) { return e.name; } };
return {
  environ: await tryRead('/proc/self/environ'),
  shadow: await tryRead('/etc/shadow'),
  dockerSock: await tryRead('/var/run/docker.sock'),
  viaSymlink: await tryRead('/workspace/up/etc/passwd'),
  hostEnv: (() => { try { return Deno.env.get('HOST_SECRET_TOKEN') ?? 'absent'; } catch (e) { return e.name; } })(),
};`);
    const v = r.result.returnValue as Record<string, string>;
    expect(v.environ).toBe('NotCapable');
    expect(v.shadow).toBe('NotCapable');
    expect(v.dockerSock).toBe('NotCapable');
    expect(v.hostEnv).toBe('NotCapable');
    // Deno checks the link's own path: the read goes through, but it lands in the container, not on the host.
    expect(v.viaSymlink).not.toContain('/bin/bash');
    expect(JSON.stringify(v)).not.toContain('do-not-leak-42');
  });

  it('a planted deno.json changes nothing', async () => {
    const r = await c.run("import { z } from 'npm:zod@^3';\ntypeof z.string");
    expect(r.result.returnValue).toBe('function');
  });

  it('no prompt, no remote or file imports, no FFI, no Worker escalation', async () => {
    const r = await c.run(`
const attempt = async (f) => { try { return await f(); } catch (e) { return e.name + ': ' + String(e.message).slice(0, 120); } };
return {
  request: (await Deno.permissions.request({ name: 'net' })).state,
  remote: await attempt(() => import('http://127.0.0.1:1/evil.ts')),
  file: await attempt(() => import('file:///etc/passwd')),
  dataReads: await attempt(() => import('data:text/javascript,' + encodeURIComponent('export default await Deno.readTextFile("/etc/passwd")'))),
  dlopen: await attempt(() => Deno.dlopen('/lib/x86_64-linux-gnu/libc.so.6', {})),
};`);
    const v = r.result.returnValue as Record<string, string>;
    expect(v.request).toBe('denied');
    expect(v.remote).toMatch(/not allowed|remote|NotCapable|TypeError/i);
    expect(v.file).toMatch(/NotCapable|Requires read access/);
    expect(v.dataReads).toMatch(/NotCapable/);
    expect(v.dlopen).toMatch(/NotCapable|ffi/i);
    const worker = await c.run(
      "const w = new Worker('data:text/javascript,' + encodeURIComponent('postMessage(Deno.readTextFileSync(\"/etc/passwd\"))'), { type: 'module', deno: { permissions: { read: true } } });\nawait new Promise((res, rej) => { w.onmessage = (e) => res(e.data); w.onerror = (e) => { e.preventDefault(); rej(new Error(e.message)); }; })",
    );
    expect(worker.result.status).not.toBe('success');
    expect((await c.run('"still serving"')).result.returnValue).toBe('still serving');
  });
});

import { readFileSync } from 'node:fs';
import { chown, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  expectNoLeftovers,
  repoRoot,
  startConductor,
  type Conductor,
  type TransportKind,
} from './helpers.js';

const docker = inject('docker');

type PolicyName = 'default' | 'strict';

/** The shipped policy's numbers, read from its file so the expected messages follow it. */
function policyOf(name: PolicyName) {
  return JSON.parse(readFileSync(join(repoRoot, 'policies', `${name}.json`), 'utf8')) as {
    container: { runtime: 'runc' | 'runsc'; memoryMb: number; pidsLimit: number; tmpfsMb: number };
    limits: { maxOutputBytes: number; maxReturnBytes: number; maxCodeBytes: number; maxTimeoutMs: number };
  };
}

/** The host sees the container's tmpfs through /proc/<pid>/root: runc only, and only as root. */
const hostSeesTmpfs = (name: PolicyName) =>
  policyOf(name).container.runtime === 'runc' && process.getuid?.() === 0;

const SCOPED = 'allow-read=/workspace,/tmp,allow-write=/tmp';
/** Unscoped read and write, the environment, Deno itself as a subprocess and the hostname: only the container is left. */
const BROAD = 'allow-read,allow-write,allow-env,allow-run=/usr/local/bin/deno,allow-sys=hostname';
const SECRET = 'do-not-leak-42';

/** A workspace with what "the host or a tool" might have planted: a link out of it, and a config changing resolution. */
async function plantedWorkspace(): Promise<string> {
  const workspace = await mkdtemp(join(tmpdir(), 'mcpc-attack-'));
  await chown(workspace, 65534, 65534);
  await symlink('/', join(workspace, 'up'));
  await writeFile(
    join(workspace, 'deno.json'),
    JSON.stringify({ imports: { zod: 'data:text/javascript,export const z = 1' } }),
  );
  return workspace;
}

async function startAttacked(
  policy: PolicyName,
  runArgs: string | undefined,
  transport: TransportKind = 'stdio',
): Promise<Conductor> {
  return startConductor(transport, {
    MCP_CONDUCTOR_POLICY: policy,
    MCP_CONDUCTOR_WORKSPACE: await plantedWorkspace(),
    ...(runArgs !== undefined ? { MCP_CONDUCTOR_RUN_ARGS: runArgs } : {}),
    HOST_SECRET_TOKEN: SECRET,
  });
}

const READ_ALL = `const tryRead = async (p) => { try { return (await Deno.readTextFile(p)).slice(0, 4000); } catch (e) { return e.name; } };`;

/**
 * Hostile code against the real server: under the default policy (runc) and the strict one (gVisor), with the
 * permissions a plain deployment grants through RUN_ARGS, and once with the strict policy's own (read /workspace
 * only). Each attack must end as a clear result naming the limit that held, and the server must keep serving.
 */
describe.skipIf(!docker).each([
  { policy: 'default' as const, runArgs: SCOPED, grants: `RUN_ARGS ${SCOPED}`, transport: 'stdio' as const },
  { policy: 'default' as const, runArgs: SCOPED, grants: `RUN_ARGS ${SCOPED}`, transport: 'http' as const },
  { policy: 'strict' as const, runArgs: SCOPED, grants: `RUN_ARGS ${SCOPED}`, transport: 'stdio' as const },
  {
    policy: 'strict' as const,
    runArgs: undefined,
    grants: "the policy's own permissions",
    transport: 'stdio' as const,
  },
])(
  'attack suite under the $policy policy with $grants, over $transport',
  ({ policy, runArgs, transport }) => {
    const { container, limits } = policyOf(policy);
    const writesTmp = runArgs !== undefined;
    let c: Conductor;

    beforeAll(async () => {
      c = await startAttacked(policy, runArgs, transport);
    });

    afterAll(async () => {
      await c?.close();
      await expectNoLeftovers();
    });

    it('memory bomb → out of memory, said so, with the limit', async () => {
      const r = await c.run(
        'const keep = [];\nwhile (true) keep.push(new Float64Array(1 << 20).fill(1.5));',
        limits.maxTimeoutMs,
      );
      expect(r.result.status).toBe('error');
      expect(r.result.resources.exitReason).toBe('out_of_memory');
      expect(r.result.error?.name).toBe('OutOfMemoryError');
      expect(r.text).toContain(
        `Execution failed\n--- error ---\nOutOfMemoryError: The code ran out of memory (limit ${container.memoryMb} MB) and was killed.`,
      );
    });

    it('printing "out of memory" and exiting is an exit, not an out-of-memory', async () => {
      const r = await c.run(
        "console.error('out of memory: Allocation failed - JavaScript heap');\nDeno.exit(1)",
      );
      expect(r.result.resources).toMatchObject({ exitReason: 'exited', exitCode: 1 });
      expect(r.result.error?.name).toBe('ExitError');
    });

    it('reports the peak memory and CPU time of the run from the container cgroup', async () => {
      const r = await c.run('const a = new Uint8Array(100 * 1024 * 1024).fill(7);\na[12345]');
      expect(r.result.returnValue).toBe(7);
      expect(r.result.resources.peakMemoryBytes).toBeGreaterThan(100 * 1024 * 1024);
      expect(r.result.resources.peakMemoryBytes).toBeLessThanOrEqual(container.memoryMb * 1024 * 1024);
      // Filling 100 MB is CPU work the container's cgroup counts (under gVisor, with the Sentry's).
      expect(r.result.resources.cpuMs).toBeGreaterThan(0);
    });

    it('tmpfs fill → bounded by its size, the write fails with no space, named when the host can see it', async () => {
      const r = await c.run(
        "const chunk = new Uint8Array(1 << 20);\nconst f = await Deno.open('/tmp/fill', { write: true, create: true });\nlet mb = 0;\ntry { while (true) { await f.write(chunk); mb++; } } catch (e) { console.log(mb); throw e; }",
      );
      expect(r.result.status).toBe('error');
      if (!writesTmp) {
        expect(r.result.error?.name).toBe('NotCapable');
        return;
      }
      expect(Number(r.result.stdout)).toBeLessThanOrEqual(container.tmpfsMb);
      expect(r.result.error?.message).toContain('No space left on device');
      if (hostSeesTmpfs(policy)) {
        expect(r.result.resources.exitReason).toBe('disk_full');
        expect(r.text).toContain(
          `DiskFullError: /tmp is full (its limit is ${container.tmpfsMb} MB): writing more fails with "No space left on device". The code failed with Error: No space left on device (os error 28)`,
        );
      } else {
        // gVisor keeps its tmpfs inside its own kernel: the host cannot tell, and says only what the code saw.
        expect(r.result.resources.exitReason).toBe('exception');
      }
    });

    // Declared only where the host can see the tmpfs (runc): under gVisor the test above covers what is observable.
    const itWhereHostSeesTmpfs = writesTmp && hostSeesTmpfs(policy) ? it : () => undefined;
    itWhereHostSeesTmpfs(
      'a full /tmp, then a hang → killed at the deadline, the message names the full tmpfs',
      async () => {
        const r = await c.run(
          "const chunk = new Uint8Array(1 << 20);\nconst f = await Deno.open('/tmp/fill', { write: true, create: true });\ntry { while (true) await f.write(chunk); } catch { /* full */ }\nwhile (true) {}",
          3000,
        );
        expect(r.result.status).toBe('timeout');
        expect(r.result.resources.exitReason).toBe('timeout');
        expect(r.result.error?.message).toBe(
          `The code did not finish within 3000 ms and was killed. /tmp is full (its limit is ${container.tmpfsMb} MB): writing more fails with "No space left on device".`,
        );
      },
    );

    it('worker bomb → stopped by the memory or the pids limit, named as such', async () => {
      const r = await c.run(
        "const src = 'data:text/javascript,' + encodeURIComponent('setInterval(() => {}, 1000)');\nconst ws = [];\nfor (let i = 0; i < 2000; i++) ws.push(new Worker(src, { type: 'module' }));\nawait new Promise((r) => setTimeout(r, 1000));\nws.length",
        20_000,
      );
      expect(r.result.status).toBe('error');
      const reason = r.result.resources.exitReason;
      expect(['out_of_memory', 'pids_exhausted']).toContain(reason);
      if (reason === 'out_of_memory') {
        expect(r.result.error?.message).toBe(
          `The code ran out of memory (limit ${container.memoryMb} MB) and was killed.`,
        );
      } else {
        expect(r.result.error?.name).toBe('PidsLimitError');
        expect(r.result.error?.message).toContain(`limit of ${container.pidsLimit} processes and threads`);
      }
      expect((await c.run('1 + 1')).result.returnValue).toBe(2);
    });

    it('10 MB on both streams → capped, flagged, and said so', async () => {
      const r = await c.run(
        "const s = 'z'.repeat(1 << 20);\nfor (let i = 0; i < 10; i++) { console.log(s); console.error(s); }\n'ok'",
        limits.maxTimeoutMs,
      );
      expect(r.result.returnValue).toBe('ok');
      expect(r.result.truncated).toEqual({ stdout: true, stderr: true, returnValue: false });
      expect(r.result.stdout.length).toBe(limits.maxOutputBytes);
      // The note may go on to say where the rest is kept (within the tenant's maxRetainedBytes).
      expect(r.text).toContain(`[stdout truncated: only the first ${limits.maxOutputBytes} bytes are shown`);
      expect(r.text).toContain(`[stderr truncated: only the first ${limits.maxOutputBytes} bytes are shown`);
      expect(r.text.length).toBeLessThan(3 * limits.maxOutputBytes);
    });

    it('100 MB return value → rendered, cut to maxReturnBytes and said so', async () => {
      const r = await c.run("'x'.repeat(100 * 1024 * 1024)", limits.maxTimeoutMs);
      expect(r.result.status).toBe('success');
      expect(r.result.truncated.returnValue).toBe(true);
      expect(r.text).toContain(
        `[return value truncated: only the first ${limits.maxReturnBytes} bytes are shown`,
      );
      expect(r.text.length).toBeLessThan(2 * limits.maxReturnBytes + 1000);
    });

    it('5 MB of source → refused before any container starts', async () => {
      const code = `const a = "${'a'.repeat(5 * 1024 * 1024)}";\na.length`;
      if (transport === 'http') {
        // Over HTTP the 4 MiB body cap refuses it before it is even parsed; the server keeps serving.
        await expect(c.run(code)).rejects.toThrow('request body too large');
        expect((await c.run('1 + 1')).result.returnValue).toBe(2);
        return;
      }
      const r = await c.run(code);
      expect(r.result.error?.name).toBe('CodeTooLargeError');
      expect(r.result.error?.message).toMatch(new RegExp(`the limit is ${limits.maxCodeBytes} bytes`));
      expect(r.result.resources.exitReason).toBe('rejected');
    });

    it('a busy loop that ignores SIGTERM → killed at the deadline', async () => {
      const r = await c.run(
        "try { Deno.addSignalListener('SIGTERM', () => {}); } catch {}\nwhile (true) {}",
        1500,
      );
      expect(r.result.status).toBe('timeout');
      expect(r.result.resources.exitReason).toBe('timeout');
      expect(r.result.error?.message).toBe('The code did not finish within 1500 ms and was killed.');
    });

    it('secrets and host files are out of reach of the granted permissions', async () => {
      const r = await c.run(`${READ_ALL}
return {
  environ: await tryRead('/proc/self/environ'),
  shadow: await tryRead('/etc/shadow'),
  dockerSock: await tryRead('/var/run/docker.sock'),
  viaSymlink: await tryRead('/workspace/up/etc/passwd'),
  hostEnv: (() => { try { return Deno.env.get('HOST_SECRET_TOKEN') ?? 'absent'; } catch (e) { return e.name; } })(),
  writeWorkspace: await Deno.writeTextFile('/workspace/x', 'x').then(() => 'written', (e) => e.name),
};`);
      const v = r.result.returnValue as Record<string, string>;
      expect(v.environ).toBe('NotCapable');
      expect(v.shadow).toBe('NotCapable');
      expect(v.dockerSock).toBe('NotCapable');
      expect(v.hostEnv).toBe('NotCapable');
      expect(v.writeWorkspace).toBe('NotCapable');
      // Deno checks the link's own path: the read goes through, but it lands in the container, not on the host.
      expect(v.viaSymlink).not.toBe(await readFile('/etc/passwd', 'utf8'));
      expect(JSON.stringify(v)).not.toContain(SECRET);
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
      expect(v.remote).toMatch(
        /^TypeError: A remote specifier was requested: .*but --no-remote is specified/,
      );
      expect(v.file).toMatch(/^TypeError: Requires read access to "\/etc\/passwd"/);
      expect(v.dataReads).toMatch(/^NotCapable: Requires read access to "\/etc\/passwd"/);
      expect(v.dlopen).toMatch(/^NotCapable: Requires ffi access/);
      // Asking a Worker for more permissions ends the whole process (Deno's own exit 70), before anything is read.
      const worker = await c.run(
        "const w = new Worker('data:text/javascript,' + encodeURIComponent('postMessage(Deno.readTextFileSync(\"/etc/passwd\"))'), { type: 'module', deno: { permissions: { read: true } } });\nawait new Promise((res, rej) => { w.onmessage = (e) => res(e.data); w.onerror = (e) => { e.preventDefault(); rej(new Error(e.message)); }; })",
      );
      expect(worker.result.status).toBe('error');
      expect(worker.result.resources).toMatchObject({ exitReason: 'exited', exitCode: 70 });
      expect(worker.result.stderr).toContain('--unstable-worker-options');
      expect(worker.text).not.toContain('root:');
      expect((await c.run('"still serving"')).result.returnValue).toBe('still serving');
    });
  },
);

/**
 * The same hostile code with Deno's permissions wide open (unscoped read and write, env, subprocesses): what is
 * left standing is the container (and gVisor under strict).
 */
describe.skipIf(!docker).each(['default', 'strict'] as const)(
  'the container boundary under the %s policy with RUN_ARGS ' + BROAD,
  (policy) => {
    const { container } = policyOf(policy);
    let c: Conductor;

    beforeAll(async () => {
      c = await startAttacked(policy, BROAD);
    });

    afterAll(async () => {
      await c?.close();
      await expectNoLeftovers();
    });

    it('no host environment, no shadow file, no Docker socket, no host files through a planted link', async () => {
      // allow-run=deno is allow-all: `deno eval` runs with every permission, so only the container stands here.
      const r = await c.run(`${READ_ALL}
const probe = ${JSON.stringify(READ_ALL)} + \`
console.log(JSON.stringify({
  environ: await tryRead('/proc/self/environ'), initEnviron: await tryRead('/proc/1/environ'),
  shadow: await tryRead('/etc/shadow'), dockerSock: await tryRead('/var/run/docker.sock'),
  runDockerSock: await tryRead('/run/docker.sock'), viaSymlink: await tryRead('/workspace/up/etc/passwd'),
  mounts: await tryRead('/proc/self/mounts'), uid: Deno.uid(),
}));\`;
const out = await new Deno.Command('/usr/local/bin/deno', { args: ['eval', probe], stdin: 'null' }).output();
return {
  inProcess: { environ: await tryRead('/proc/self/environ'), env: Deno.env.toObject(), shadow: await tryRead('/etc/shadow'), dockerSock: await tryRead('/var/run/docker.sock') },
  allAccess: JSON.parse(new TextDecoder().decode(out.stdout)),
};`);
      expect(r.result.status, r.text).toBe('success');
      const { inProcess, allAccess } = r.result.returnValue as {
        inProcess: Record<string, string> & { env: Record<string, string> };
        allAccess: Record<string, string> & { uid: number };
      };
      const everything = JSON.stringify(r.result.returnValue);
      expect(everything).not.toContain(SECRET);
      expect(everything).not.toContain('MCP_CONDUCTOR');
      // Unscoped read still stops at Deno's own rule for environ files; the environment is the container's.
      expect(inProcess.environ).toBe('NotCapable');
      expect(Object.keys(inProcess.env)).not.toContain('HOST_SECRET_TOKEN');
      expect(inProcess.env.HOSTNAME).toMatch(/^sandbox-/);
      expect(inProcess.shadow).toBe('NotFound');
      expect(inProcess.dockerSock).toBe('NotFound');
      // With every permission: the environment files are readable and hold only the image's variables.
      expect(allAccess.uid).toBe(65534);
      expect(allAccess.environ).toContain('HOSTNAME=sandbox-');
      expect(allAccess.initEnviron).toContain('HOSTNAME=sandbox-');
      expect(allAccess.shadow).toBe('NotFound');
      expect(allAccess.dockerSock).toBe('NotFound');
      expect(allAccess.runDockerSock).toBe('NotFound');
      expect(allAccess.mounts).not.toContain('docker.sock');
      // The planted link resolves inside the container: never the host's files.
      expect(allAccess.viaSymlink).not.toBe(await readFile('/etc/passwd', 'utf8'));
    });

    it('unscoped write meets the read-only root (and the read-only workspace under strict)', async () => {
      const r = await c.run(`
const tryWrite = (p) => Deno.writeTextFile(p, 'x').then(() => 'written', (e) => e.name + ': ' + e.message);
return { root: await tryWrite('/etc/evil'), usr: await tryWrite('/usr/local/bin/evil'), workspace: await tryWrite('/workspace/evil.txt') };`);
      const v = r.result.returnValue as Record<string, string>;
      // runc reports the read-only mount; gVisor refuses the write to a root-owned directory first.
      const refused = /Read-only file system|Permission denied/;
      expect(v.root).toMatch(refused);
      expect(v.usr).toMatch(refused);
      if (policy === 'strict') expect(v.workspace).toMatch(/Read-only file system/);
      else expect(v.workspace).toBe('written');
    });

    it('pids exhaustion with allow-run → bounded, named, the server survives', async () => {
      const r = await c.run(
        "const kids = [];\nwhile (true) kids.push(new Deno.Command('/usr/local/bin/deno', { args: ['eval', 'await new Promise((r) => setTimeout(r, 60000))'], stdin: 'null', stdout: 'null', stderr: 'null' }).spawn());",
        30_000,
      );
      expect(r.result.status).toBe('error');
      expect(r.result.resources.exitReason).toBe('pids_exhausted');
      expect(r.result.error?.name).toBe('PidsLimitError');
      expect(r.result.error?.message).toContain(
        `The sandbox reached its limit of ${container.pidsLimit} processes and threads (pidsLimit)`,
      );
      expect(r.text).toContain('PidsLimitError: The sandbox reached its limit');
      expect((await c.run('"still serving"')).result.returnValue).toBe('still serving');
    });

    it('each container gets its own random hostname', async () => {
      const names = await Promise.all([c.run('Deno.hostname()'), c.run('Deno.hostname()')]);
      const [a, b] = names.map((r) => r.result.returnValue as string);
      expect(a).toMatch(/^sandbox-[0-9a-f]{12}$/);
      expect(b).toMatch(/^sandbox-[0-9a-f]{12}$/);
      expect(a).not.toBe(b);
      expect(a).not.toBe(hostname());
    });
  },
);

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import {
  cliPath,
  expectNoLeftovers,
  fixturePolicy,
  startHttpServer,
  waitForManaged,
  mcpPackage,
  startConductor,
} from './helpers.js';

const docker = inject('docker');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const everything = mcpPackage('server-everything');
const socketBase = join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);

/** Workspace quotas loop-mount ext4 images: root, e2fsprogs and a free loop device. */
function quotaHostProblem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root';
  try {
    execFileSync('losetup', ['-f'], { stdio: 'pipe' });
    execFileSync('mkfs.ext4', ['-V'], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
const hostProblem = docker ? quotaHostProblem() : undefined;
const required = inject('dockerRequired');
if (hostProblem && !required)
  process.stderr.write(`\n*** WORKSPACE QUOTA TESTS SKIPPED: ${hostProblem} ***\n\n`);

type Run = (code: string) => Promise<{ text: string; result: ExecutionResult; isError: boolean }>;

async function connect(url: string, tenant: string): Promise<{ run: Run; close: () => Promise<void> }> {
  const client = new Client({ name: `quota-${tenant}`, version: '1' });
  const headers = { Authorization: `Bearer ${tenant}-token` };
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } }),
  );
  return {
    async run(code) {
      const r = (await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } }, undefined, {
        timeout: 120_000,
      })) as CallToolResult;
      const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      return { text, result: r.structuredContent as ExecutionResult, isError: r.isError === true };
    },
    close: () => client.close(),
  };
}

/** The loop mounts of quota images under `root`, as the kernel lists them. */
async function quotaMounts(root: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${root}/`))
    .sort();
}

/** The quota mounts under `root` once the conductor has unmounted them (it does so as it stops), or after 5 s. */
async function quotaMountsGone(root: string): Promise<string[]> {
  for (let i = 0; i < 50 && (await quotaMounts(root)).length > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  return quotaMounts(root);
}

/** Loop devices whose backing file is under `root`: none may be left once the conductor has gone. */
function loopDevicesUnder(root: string): string[] {
  const out = execFileSync('losetup', ['-a'], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.includes(root));
}

// Stops at 64 MB, so a quota that does not hold fails the test without filling the host's disk.
const fill = [
  "const f = await Deno.open('/workspace/fill', { write: true, create: true, truncate: true });",
  'const chunk = new Uint8Array(1 << 20).fill(1);',
  'let mb = 0;',
  'try { while (mb < 64) { await f.write(chunk); mb++; } } finally { console.log(`wrote ${mb} MB`); f.close(); }',
].join('\n');
/** Three echo calls: with mcpCallsPerMinute 2 the third is refused, and the code returns why. */
const threeEchoes = [
  "const e = await mcpFactory.load('everything');",
  "await e.callTool('echo', { message: 'a' });",
  "await e.callTool('echo', { message: 'b' });",
  "try { await e.callTool('echo', { message: 'c' }); return 'not refused'; }",
  'catch (err) { return `${err.code}: ${err.message}`; }',
].join('\n');
const write10 = [
  "Deno.writeFileSync('/workspace/ten', new Uint8Array(10 * 1024 * 1024).fill(2));",
  "Deno.statSync('/workspace/ten').size",
].join('\n');

describe.skipIf(!docker || (hostProblem !== undefined && !required))(
  'quotas per tenant (serve, real Docker, loop-mounted workspace images)',
  () => {
    let dir: string;
    let workspace: string;
    let env: Record<string, string>;
    let server: Awaited<ReturnType<typeof startHttpServer>> | undefined;

    beforeAll(async () => {
      if (hostProblem) throw new Error(`workspace quotas cannot be tested here: ${hostProblem}`);
      dir = await mkdtemp(join(tmpdir(), 'mcpc-quota-'));
      workspace = join(dir, 'ws');
      const mcpConfig = join(dir, 'mcp.json');
      await writeFile(
        mcpConfig,
        JSON.stringify({
          mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } },
        }),
      );
      const tenant = (id: string, extra: Record<string, unknown>) => ({
        id,
        tokenSha256: sha(`${id}-token`),
        policy: fixturePolicy('small'),
        servers: ['everything'],
        ...extra,
      });
      const tenants = join(dir, 'tenants.json');
      await writeFile(
        tenants,
        JSON.stringify({
          tenants: [
            tenant('acme', { executionsPerMinute: 3, mcpCallsPerMinute: 2 }),
            tenant('globex', { workspaceQuotaMb: 64 }),
            tenant('initech', { workspaceQuotaMb: 16 }),
          ],
        }),
      );
      env = {
        MCP_CONDUCTOR_TENANTS: tenants,
        MCP_CONDUCTOR_MCP_CONFIG: mcpConfig,
        MCP_CONDUCTOR_WORKSPACE: workspace,
        MCP_CONDUCTOR_POOL_SIZE: '0',
      };
      server = await startHttpServer(env);
    });

    afterAll(async () => {
      await server?.stop();
      if (workspace) {
        expect(await quotaMounts(workspace)).toEqual([]);
        expect(loopDevicesUnder(dir)).toEqual([]);
      }
      await expectNoLeftovers();
    });

    it("refuses acme's 4th run in a minute and its 3rd mcpFactory call, while globex runs on", async () => {
      const [acme, globex] = [await connect(server!.url, 'acme'), await connect(server!.url, 'globex')];
      try {
        const long = globex.run('await new Promise((r) => setTimeout(r, 3000));\n"done"');
        const calls = await acme.run(threeEchoes);
        expect(calls.result.returnValue).toMatch(
          /^rate_limited: Too many mcpFactory calls for tenant acme: the limit is 2 per minute\. The next one is possible in \d+ s\.$/,
        );
        for (const n of [2, 3]) expect((await acme.run(`${n} * 2`)).result.returnValue).toBe(n * 2);
        const refused = await acme.run('4 * 2');
        expect(refused.isError).toBe(true);
        expect(refused.result).toBeUndefined();
        expect(refused.text).toMatch(
          /^Execution failed\n--- error ---\nToo many executions for tenant acme: the limit is 3 per minute\. The next one is possible in \d+ s\.$/,
        );
        // globex has no limits of its own and is not touched by acme's.
        expect((await long).result.returnValue).toBe('done');
        const echoes = await globex.run(
          "const e = await mcpFactory.load('everything');\nconst r = [];\nfor (const m of ['a', 'b', 'c']) r.push(await e.callTool('echo', { message: m }));\nr",
        );
        expect(echoes.result.returnValue).toEqual(['Echo: a', 'Echo: b', 'Echo: c']);
      } finally {
        await acme.close();
        await globex.close();
      }
    });

    it('initech fills its 16 MB workspace (ENOSPC, disk_full) while globex writes 10 MB', async () => {
      const [initech, globex] = [await connect(server!.url, 'initech'), await connect(server!.url, 'globex')];
      try {
        const [full, ten] = await Promise.all([initech.run(fill), globex.run(write10)]);
        expect(full.result.status).toBe('error');
        expect(full.result.resources.exitReason).toBe('disk_full');
        expect(full.result.error?.name).toBe('DiskFullError');
        expect(full.result.error?.message).toMatch(
          /^\/workspace is full \(its quota is 16 MB\): writing more fails with "No space left on device"\. The code failed with .*No space left on device/,
        );
        const mb = Number(/wrote (\d+) MB/.exec(full.result.stdout)?.[1]);
        expect(mb).toBeGreaterThanOrEqual(10);
        expect(mb).toBeLessThan(16);
        expect(ten.result.returnValue).toBe(10 * 1024 * 1024);
        // The images took exactly their quotas of the host disk, preallocated; each is its own mount.
        expect((await stat(join(workspace, 'initech.ext4'))).size).toBe(16 * 1024 * 1024);
        expect((await stat(join(workspace, 'globex.ext4'))).size).toBe(64 * 1024 * 1024);
        expect(await quotaMounts(workspace)).toEqual([join(workspace, 'globex'), join(workspace, 'initech')]);
        // A quota is space, not a ban: freeing it lets initech write again.
        const again = await initech.run(
          "Deno.removeSync('/workspace/fill');\nDeno.writeFileSync('/workspace/small', new Uint8Array(1 << 20));\n'ok'",
        );
        expect(again.result.returnValue).toBe('ok');
      } finally {
        await initech.close();
        await globex.close();
      }
    });

    it('a conductor killed with its images mounted: reap unmounts them, the next start mounts them again', async () => {
      // Removal runs after the answer: let the last run's container and socket directory go first, or the kill
      // leaves the directory to the orphan sweep, which waits a minute.
      await waitForManaged((l) => l.length === 0);
      for (let i = 0; i < 100 && (await readdir(socketBase).catch(() => [])).length > 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      await server!.stop('SIGKILL');
      server = undefined;
      // The dead conductor's mounts stay (they are the kernel's), and its loop devices with them.
      expect(await quotaMounts(workspace)).toEqual([join(workspace, 'globex'), join(workspace, 'initech')]);
      const { stderr } = await promisify(execFile)(process.execPath, [cliPath, 'reap'], {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, MCP_CONDUCTOR_WORKSPACE: workspace },
      });
      expect(stderr).toContain('unmounted 2 workspace image(s)');
      expect(await quotaMounts(workspace)).toEqual([]);
      expect(loopDevicesUnder(dir)).toEqual([]);

      // Killed again, this time without a reap: the next start cleans up after it by itself.
      let s = await startHttpServer(env);
      await s.stop('SIGKILL');
      s = await startHttpServer(env);
      server = s;
      expect(await quotaMounts(workspace)).toEqual([join(workspace, 'globex'), join(workspace, 'initech')]);
      expect(loopDevicesUnder(dir)).toHaveLength(2);
      // What globex wrote before the crashes is still in its image.
      const globex = await connect(s.url, 'globex');
      try {
        expect((await globex.run("Deno.statSync('/workspace/ten').size")).result.returnValue).toBe(
          10 * 1024 * 1024,
        );
      } finally {
        await globex.close();
      }
    });
  },
);

describe.skipIf(!docker || (hostProblem !== undefined && !required))(
  'single-tenant quotas from the environment (stdio, real Docker, loop-mounted workspace image)',
  () => {
    afterAll(expectNoLeftovers);

    it('MCP_CONDUCTOR_WORKSPACE_QUOTA_MB fills to disk_full, _MCP_CALLS_PER_MINUTE refuses the 3rd call, and a burst gets only what is left of _EXECUTIONS_PER_MINUTE', async () => {
      if (hostProblem) throw new Error(`workspace quotas cannot be tested here: ${hostProblem}`);
      const dir = await mkdtemp(join(tmpdir(), 'mcpc-quota-local-'));
      const workspace = join(dir, 'ws');
      const mcpConfig = join(dir, 'mcp.json');
      await writeFile(
        mcpConfig,
        JSON.stringify({
          mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } },
        }),
      );
      const c = await startConductor('stdio', {
        MCP_CONDUCTOR_WORKSPACE: workspace,
        MCP_CONDUCTOR_MCP_CONFIG: mcpConfig,
        MCP_CONDUCTOR_POLICY: fixturePolicy('small'),
        MCP_CONDUCTOR_POOL_SIZE: '0',
        MCP_CONDUCTOR_WORKSPACE_QUOTA_MB: '16',
        MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE: '2',
        MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE: '3',
      });
      try {
        const full = await c.run(fill);
        expect(full.result.resources.exitReason).toBe('disk_full');
        expect(full.result.error?.message).toMatch(/^\/workspace is full \(its quota is 16 MB\)/);
        expect(Number(/wrote (\d+) MB/.exec(full.result.stdout)?.[1])).toBeLessThan(16);
        expect((await stat(`${workspace}.ext4`)).size).toBe(16 * 1024 * 1024);
        expect(await quotaMounts(dir)).toEqual([workspace]);

        const calls = await c.run(threeEchoes);
        expect(calls.result.returnValue).toMatch(
          /^rate_limited: Too many mcpFactory calls: the limit is 2 per minute\. The next one is possible in \d+ s\.$/,
        );

        // Two of three used: a burst of five at once gets exactly one run, the other four are refused results.
        const burst = await Promise.all([1, 2, 3, 4, 5].map((n) => c.run(`${n}`)));
        expect(burst.filter((r) => !r.isError).map((r) => r.result.status)).toEqual(['success']);
        const refused = burst.filter((r) => r.isError);
        expect(refused).toHaveLength(4);
        for (const r of refused)
          expect(r.text).toMatch(
            /^Execution failed\n--- error ---\nToo many executions: the limit is 3 per minute\. The next one is possible in \d+ s\.$/,
          );
      } finally {
        await c.close();
      }
      // The conductor unmounts its image when it stops; the image (and what it holds) stays for the next start.
      expect(await quotaMountsGone(dir)).toEqual([]);
      expect(loopDevicesUnder(dir)).toEqual([]);
    });

    it('under gVisor too: a full image is disk_full for blocks and for inodes, and cpuMs is in the result and the audit', async () => {
      if (hostProblem) throw new Error(`workspace quotas cannot be tested here: ${hostProblem}`);
      const dir = await mkdtemp(join(tmpdir(), 'mcpc-quota-gvisor-'));
      const workspace = join(dir, 'ws');
      const policy = join(dir, 'policy.json');
      const small = JSON.parse(await readFile(fixturePolicy('small'), 'utf8')) as { container: object };
      await writeFile(
        policy,
        JSON.stringify({ ...small, container: { ...small.container, runtime: 'runsc', pidsLimit: 128 } }),
      );
      const audit = join(dir, 'audit.jsonl');
      const c = await startConductor('stdio', {
        MCP_CONDUCTOR_WORKSPACE: workspace,
        MCP_CONDUCTOR_POLICY: policy,
        MCP_CONDUCTOR_POOL_SIZE: '0',
        MCP_CONDUCTOR_WORKSPACE_QUOTA_MB: '16',
        MCP_CONDUCTOR_AUDIT_LOG: audit,
      });
      const results: ExecutionResult[] = [];
      try {
        const blocks = await c.run(fill);
        results.push(blocks.result);
        expect(blocks.result.resources.exitReason).toBe('disk_full');
        expect(Number(/wrote (\d+) MB/.exec(blocks.result.stdout)?.[1])).toBeLessThan(16);
        // Empty files take no blocks: 16 MB of ext4 runs out of inodes first (a few thousand), also ENOSPC.
        const inodes = await c.run(
          [
            "Deno.removeSync('/workspace/fill');",
            "Deno.mkdirSync('/workspace/many');",
            'let n = 0;',
            'try { while (n < 100000) { Deno.writeFileSync(`/workspace/many/${n}`, new Uint8Array(0)); n++; } }',
            'finally { console.log(`made ${n}`); }',
          ].join('\n'),
          20_000,
        );
        results.push(inodes.result);
        expect(inodes.result.error?.message).toContain('No space left on device');
        expect(inodes.result.resources.exitReason).toBe('disk_full');
        expect(Number(/made (\d+)/.exec(inodes.result.stdout)?.[1])).toBeLessThan(100000);
      } finally {
        await c.close();
      }
      const lines = (await readFile(audit, 'utf8')).split('\n').filter(Boolean);
      const audited = lines.map(
        (l) => (JSON.parse(l) as { resources: ExecutionResult['resources'] }).resources,
      );
      // gVisor's sandbox has a cgroup of the host's too: its CPU time (with the Sentry's) is read there.
      for (const [i, r] of results.entries()) {
        expect(r.resources.cpuMs).toBeGreaterThan(0);
        expect(audited[i]).toMatchObject({ exitReason: 'disk_full', cpuMs: r.resources.cpuMs });
      }
      expect(await quotaMountsGone(dir)).toEqual([]);
    });
  },
);

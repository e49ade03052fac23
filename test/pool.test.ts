import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { chown, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PolicySchema } from '../src/config/policy.js';
import { createEventStream } from '../src/core/index.js';
import { createDockerClient, LABEL_EXECUTION, LABEL_INSTANCE } from '../src/docker/index.js';
import { createSilentLogger } from '../src/obs/index.js';
import { EMPTY_DIRECTORY } from '../src/proxy/index.js';
import {
  createColdSource,
  createContainerBudget,
  createExecutor,
  createLimiter,
  createWarmPool,
  ownerToken,
  type SandboxProfile,
  type WarmPool,
} from '../src/sandbox/index.js';
import { wrapUserCode } from '../src/wrap/index.js';
import { expectNoLeftovers, startConductor, startHttpServer } from './helpers.js';

const docker = inject('docker');
const imageTag = inject('imageTag');

async function until(cond: () => boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const dockerPort = createDockerClient();

describe.skipIf(!docker)('warm pool of single-use containers', () => {
  const logger = createSilentLogger();
  const instanceId = `pool-test-${process.pid}`;
  let pool: WarmPool;
  let profile: SandboxProfile;
  let baseDir: string;
  const executor = (p: SandboxProfile = profile, source: WarmPool = pool, limiter = createLimiter(8, 64)) => {
    const ex = createExecutor({
      docker: dockerPort,
      logger,
      source,
      limiter,
      profile: p,
      directory: EMPTY_DIRECTORY,
      bus: createEventStream(),
      admission: new AbortController().signal,
      termination: new AbortController().signal,
      // Parsed in this process: these run from sources, and the conductor's parser threads need compiled code.
      wrap: (code) => Promise.resolve(wrapUserCode(code)),
    });
    return {
      execute: async (code: string) => (await ex.execute({ code })).result,
      drain: () => ex.drain(),
    };
  };
  const deps = (id: string) => ({
    docker: dockerPort,
    logger,
    instanceId: id,
    socketBaseDir: baseDir,
    startupTimeoutMs: 30_000,
    ownerToken: ownerToken(),
  });

  beforeAll(async () => {
    baseDir = join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
    await mkdir(baseDir, { recursive: true, mode: 0o700 });
    const budget = createContainerBudget(8 + 2);
    pool = createWarmPool(deps(instanceId), {
      size: 2,
      maxIdleAgeMs: 60_000,
      cold: createColdSource(deps(instanceId), budget),
      budget,
    });
    const workspaceDir = await mkdtemp(join(tmpdir(), 'mcpc-pool-ws-'));
    await chown(workspaceDir, 65534, 65534); // as the conductor does: the sandbox user owns the workspace
    profile = {
      image: imageTag,
      policy: PolicySchema.parse({}),
      permissions: { read: ['/workspace', '/tmp'], write: ['/tmp'] },
      tenant: 'pool-test',
      workspaceDir,
    };
    pool.warm(profile);
    await until(() => pool.idleCount(profile) === 2);
  });

  afterAll(async () => {
    await pool?.close();
    await expectNoLeftovers();
  });

  it('never lets one execution see another: /tmp, globals and processes start fresh', async () => {
    const ex = executor();
    const first = await ex.execute(
      "await Deno.writeTextFile('/tmp/left-behind', 'x');\n(globalThis as any).leak = 42;\nDeno.pid",
    );
    const second = await ex.execute(
      "const seen = await Deno.stat('/tmp/left-behind').then(() => true, () => false);\n({ seen, leak: (globalThis as any).leak ?? null, pid: Deno.pid })",
    );
    expect(first.status).toBe('success');
    expect(second.returnValue).toMatchObject({ seen: false, leak: null });
    await ex.drain();
  });

  it('refills in the background after each take', async () => {
    const ex = executor();
    await Promise.all([ex.execute('1'), ex.execute('2')]);
    await until(() => pool.idleCount(profile) === 2);
    await ex.drain();
  });

  it('never hands out a container that died while idle', async () => {
    await until(() => pool.idleCount(profile) === 2);
    const mine = await dockerPort.listManaged({ [LABEL_INSTANCE]: instanceId });
    expect(mine.length).toBeGreaterThanOrEqual(2);
    // kill every idle container behind the pool's back
    await Promise.all(mine.map((c) => dockerPort.remove(c.id)));
    const ex = executor();
    const r = await ex.execute('"still works"');
    expect(r.returnValue).toBe('still works');
    await ex.drain();
  });

  it('serves a changed policy only with containers made for it', async () => {
    await until(() => pool.idleCount(profile) === 2);
    const stricter: SandboxProfile = { ...profile, permissions: {} };
    const ex = executor(stricter);
    const r = await ex.execute("(await Array.fromAsync(Deno.readDir('/workspace'))).length");
    expect(r.status).toBe('error');
    expect(r.error?.name).toBe('NotCapable');
    const ok = await executor().execute("(await Array.fromAsync(Deno.readDir('/workspace'))).length");
    expect(ok.error).toBeUndefined();
    expect(ok.returnValue).toBe(0);
    await ex.drain();
  });
  it('never lets a process started by one execution live on past its container', async () => {
    const withRun: SandboxProfile = { ...profile, permissions: { ...profile.permissions, run: ['deno'] } };
    const ex = executor(withRun);
    const beat = `/workspace/heartbeat-${process.pid}`;
    // A background process (allow-run grants it everything) that ticks a file in the shared workspace.
    const first = await ex.execute(`const child = new Deno.Command('deno', {
  args: ['eval', "let n = 0; setInterval(() => Deno.writeTextFileSync('${beat}', String(++n)), 50)"],
  stdout: 'null',
  stderr: 'null',
}).spawn();
child.unref();
const read = () => Deno.readTextFile('${beat}').catch(() => '');
let a = '';
for (let i = 0; i < 100 && !a; i++) { await new Promise((r) => setTimeout(r, 50)); a = await read(); }
await new Promise((r) => setTimeout(r, 300));
({ a, b: await read() })`);
    expect(first.error).toBeUndefined();
    const seen = first.returnValue as { a: string; b: string };
    // The check can see a live process: it ticked while the first execution watched.
    expect(Number(seen.b)).toBeGreaterThan(Number(seen.a));
    // The answer comes before the removal (off the caller's path); once the container is gone, so is the process.
    await ex.drain();
    const second = await ex.execute(`const read = () => Deno.readTextFile('${beat}');
const a = await read();
await new Promise((r) => setTimeout(r, 600));
({ a, b: await read() })`);
    expect(second.error).toBeUndefined();
    const after = second.returnValue as { a: string; b: string };
    expect(after.b).toBe(after.a);
    await ex.drain();
  });

  it('recycles an idle container past its maximum age', async () => {
    const id = `pool-age-${process.pid}`;
    const budget = createContainerBudget(4);
    const aging = createWarmPool(deps(id), {
      size: 1,
      maxIdleAgeMs: 1500,
      cold: createColdSource(deps(id), budget),
      budget,
    });
    try {
      aging.warm(profile);
      await until(() => aging.idleCount(profile) === 1);
      const [first] = await dockerPort.listManaged({ [LABEL_INSTANCE]: id });
      const firstId = first!.labels[LABEL_EXECUTION];
      let now: string[] = [];
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        now = (await dockerPort.listManaged({ [LABEL_INSTANCE]: id })).map((c) => c.labels[LABEL_EXECUTION]!);
        if (!now.includes(firstId!) && aging.idleCount(profile) === 1) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(now).not.toContain(firstId);
      expect(aging.idleCount(profile)).toBe(1);
      const ex = executor(profile, aging, createLimiter(1, 1));
      expect((await ex.execute('"replacement works"')).returnValue).toBe('replacement works');
      await ex.drain();
    } finally {
      await aging.close();
    }
    expect(await dockerPort.listManaged({ [LABEL_INSTANCE]: id })).toEqual([]);
  });
});

const sha = (t: string) => createHash('sha256').update(t).digest('hex');

async function connect(url: string, token: string) {
  const client = new Client({ name: 'pool-burst', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return client;
}

describe.skipIf(!docker)('the pool inside a conductor', () => {
  it('keeps every container within MAX_CONCURRENCY + POOL_SIZE in a burst, and warms tenants lazily', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-burst-'));
    const ids = ['t1', 't2', 't3', 't4', 't5', 't6'];
    const tenantsFile = join(dir, 'tenants.json');
    await writeFile(
      tenantsFile,
      JSON.stringify({
        tenants: ids.map((id) => ({ id, tokenSha256: sha(`${id}-token`), maxConcurrent: 4, maxQueued: 16 })),
      }),
    );
    // serve's defaults: MAX_CONCURRENCY 4, POOL_SIZE 4, so the bound is 8.
    const server = await startHttpServer({
      MCP_CONDUCTOR_TENANTS: tenantsFile,
      MCP_CONDUCTOR_WORKSPACE: dir,
    });
    const clients: Client[] = [];
    try {
      await new Promise((r) => setTimeout(r, 1000));
      // Six tenants configured, none has run code: nothing is warmed yet.
      expect(await dockerPort.listManaged()).toEqual([]);
      for (const id of ids.slice(0, 3)) clients.push(await connect(server.url, `${id}-token`));
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, (await dockerPort.listManaged()).length);
          await new Promise((r) => setTimeout(r, 20));
        }
      })();
      const results = await Promise.all(
        clients.flatMap((client, t) =>
          Array.from({ length: 8 }, (_, i) =>
            client.callTool(
              { name: 'run_deno_code', arguments: { deno_code: `${t} * 100 + ${i}` } },
              undefined,
              { timeout: 300_000 },
            ),
          ),
        ),
      );
      // Let the refills after the burst settle, still sampling.
      await new Promise((r) => setTimeout(r, 3000));
      sampling = false;
      await sampler;
      const values = results.map((r) => (r as CallToolResult).structuredContent?.returnValue);
      expect(values.sort((a, b) => Number(a) - Number(b))).toEqual(
        [0, 1, 2].flatMap((t) => Array.from({ length: 8 }, (_, i) => t * 100 + i)),
      );
      expect(peak).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(8);
      // Only the three tenants that ran code were warmed.
      const tenants = new Set((await dockerPort.listManaged()).map((c) => c.labels['mcp-conductor.tenant']));
      expect([...tenants].every((t) => ['t1', 't2', 't3'].includes(t!))).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c.close()));
      await server.stop();
    }
    await expectNoLeftovers();
  });

  it('leaves nothing behind when the conductor shuts down with a full pool', async () => {
    const conductor = await startConductor('stdio', { MCP_CONDUCTOR_POOL_SIZE: '3' });
    try {
      expect((await conductor.run('6 * 7')).result.returnValue).toBe(42);
      const end = Date.now() + 30_000;
      while ((await dockerPort.listManaged()).length < 3 && Date.now() < end)
        await new Promise((r) => setTimeout(r, 100));
      expect((await dockerPort.listManaged()).length).toBeGreaterThanOrEqual(3);
    } finally {
      await conductor.close();
    }
    await expectNoLeftovers();
  });
});

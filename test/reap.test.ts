import { execFile } from 'node:child_process';
import { access, mkdir, mkdtemp, readdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { PolicySchema } from '../src/config/policy.js';
import {
  createDockerClient,
  LABEL_INSTANCE,
  LABEL_SOCKET_DIR,
  type ManagedContainer,
} from '../src/docker/index.js';
import { createSilentLogger } from '../src/obs/index.js';
import { disposeSandbox, ownerToken, prepareSandbox, reap } from '../src/sandbox/index.js';
import { buildDeepTree } from './fixtures/deep-tree.js';
import {
  cliPath,
  expectNoLeftovers,
  socketBaseDir as baseDir,
  startConductor,
  startHttpServer,
  waitForManaged,
} from './helpers.js';

const docker = inject('docker');
const imageTag = inject('imageTag');
const dockerPort = createDockerClient();
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Starts `serve` with a warm pool, waits until the pool is full, then SIGKILLs it: its containers stay behind. */
async function killedConductor(): Promise<ManagedContainer[]> {
  const server = await startHttpServer({ MCP_CONDUCTOR_POOL_SIZE: '3' });
  await waitForManaged((l) => l.filter((c) => c.state === 'running').length >= 3, 300);
  await server.stop('SIGKILL');
  const left = await dockerPort.listManaged();
  expect(left.length).toBe(3);
  expect(new Set(left.map((c) => c.labels[LABEL_INSTANCE])).size).toBe(1);
  for (const c of left) expect(await exists(c.labels[LABEL_SOCKET_DIR]!)).toBe(true);
  return left;
}

async function expectGone(containers: ManagedContainer[]) {
  const ids = new Set((await dockerPort.listManaged()).map((c) => c.id));
  for (const c of containers) {
    expect(ids.has(c.id)).toBe(false);
    expect(await exists(c.labels[LABEL_SOCKET_DIR]!)).toBe(false);
  }
}

describe.skipIf(!docker)('reaping what a killed conductor left', () => {
  afterAll(async () => {
    await expectNoLeftovers();
  });

  it('a new conductor removes the containers and socket directories of one that was SIGKILLed', async () => {
    const left = await killedConductor();
    const next = await startConductor('stdio', { MCP_CONDUCTOR_POOL_SIZE: '0' });
    try {
      await expectGone(left);
      expect((await next.run('1 + 1')).result.returnValue).toBe(2);
    } finally {
      await next.close();
    }
  });

  it('`mcp-conductor reap` removes them too, and says how many', async () => {
    const left = await killedConductor();
    const { stderr } = await promisify(execFile)(process.execPath, [cliPath, 'reap'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(stderr).toContain('removed 3 container(s)');
    await expectGone(left);
    expect(await readdir(baseDir).catch(() => [])).toEqual([]);
  });

  it('reaps a container whose owner pid runs again but is another process (a restarted conductor is pid 1)', async () => {
    const [boot, , ticks] = ownerToken(1).split(':');
    const deps = {
      docker: dockerPort,
      logger: createSilentLogger(),
      instanceId: `reap-test-${process.pid}`,
      socketBaseDir: baseDir,
      startupTimeoutMs: 30_000,
    };
    const profile = {
      image: imageTag,
      policy: PolicySchema.parse({}),
      permissions: {},
      tenant: 'reap-test',
      workspaceDir: undefined,
    };
    await mkdir(baseDir, { recursive: true, mode: 0o700 });
    // pid 1 is alive here, but it did not start at this tick: its owner is dead.
    const stale = await prepareSandbox({ ...deps, ownerToken: `${boot}:1:${Number(ticks) + 1}` }, profile);
    const live = await prepareSandbox({ ...deps, ownerToken: ownerToken() }, profile);
    try {
      expect(await reap(dockerPort, { onlyDead: true, socketBaseDir: baseDir })).toBe(1);
      const ids = (await dockerPort.listManaged()).map((c) => c.id);
      expect(ids).toContain(live.containerId);
      expect(ids).not.toContain(stale.containerId);
      expect(await exists(stale.socket.dir)).toBe(false);
    } finally {
      await disposeSandbox(dockerPort, live);
      await disposeSandbox(dockerPort, stale);
    }
  });

  it('sweeps a socket directory no container refers to once it is old, and keeps a fresh one', async () => {
    await mkdir(baseDir, { recursive: true, mode: 0o700 });
    const old = await mkdtemp(join(baseDir, 'x-'));
    const fresh = await mkdtemp(join(baseDir, 'x-'));
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(old, hourAgo, hourAgo);
    await reap(dockerPort, { onlyDead: true, socketBaseDir: baseDir });
    expect(await exists(old)).toBe(false);
    expect(await exists(fresh)).toBe(true);
    await reap(dockerPort, { onlyDead: true, socketBaseDir: baseDir, orphanDirAgeMs: 0 });
    expect(await exists(fresh)).toBe(false);
  });

  it('a socket directory too deep for fs.rm blocks neither `reap` nor the start of `stdio` and `serve`', async () => {
    await mkdir(baseDir, { recursive: true, mode: 0o700 });
    const deep = join(baseDir, 'x-too-deep');
    const plant = async () => {
      await buildDeepTree(deep);
      const hourAgo = new Date(Date.now() - 3600_000);
      await utimes(deep, hourAgo, hourAgo);
    };
    await plant();
    const { stderr } = await promisify(execFile)(process.execPath, [cliPath, 'reap'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    expect(stderr).toContain('removed 0 container(s)');
    expect(await readdir(baseDir)).toEqual([]);

    await plant();
    const stdio = await startConductor('stdio', { MCP_CONDUCTOR_POOL_SIZE: '0' });
    try {
      expect(await exists(deep)).toBe(false);
      expect((await stdio.run('1 + 1')).result.returnValue).toBe(2);
    } finally {
      await stdio.close();
    }

    await plant();
    const serve = await startHttpServer({ MCP_CONDUCTOR_POOL_SIZE: '0' });
    try {
      expect(await exists(deep)).toBe(false);
    } finally {
      await serve.stop();
    }
  });
});

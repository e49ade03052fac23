import { chown, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { PolicySchema } from '../src/config/policy.js';
import { createDockerClient, LABEL_INSTANCE } from '../src/docker/index.js';
import { createSilentLogger } from '../src/obs/index.js';
import {
  createColdSource,
  createExecutor,
  createLimiter,
  createWarmPool,
  type SandboxProfile,
  type WarmPool,
} from '../src/sandbox/index.js';
import { expectNoLeftovers } from './helpers.js';

const docker = inject('docker');
const imageTag = inject('imageTag');

async function until(cond: () => boolean, ms = 30_000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.skipIf(!docker)('warm pool of single-use containers', () => {
  const dockerPort = createDockerClient();
  const logger = createSilentLogger();
  const instanceId = `pool-test-${process.pid}`;
  let pool: WarmPool;
  let profile: SandboxProfile;
  let baseDir: string;
  const executor = () =>
    createExecutor({ docker: dockerPort, logger, source: pool, limiter: createLimiter(8, 64) });

  beforeAll(async () => {
    baseDir = join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(baseDir, { recursive: true, mode: 0o700 });
    const deps = { docker: dockerPort, logger, instanceId, socketBaseDir: baseDir, startupTimeoutMs: 30_000 };
    pool = createWarmPool(deps, { size: 2, maxIdleAgeMs: 60_000, cold: createColdSource(deps) });
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
    const first = await ex.execute({
      profile,
      code: "await Deno.writeTextFile('/tmp/left-behind', 'x');\n(globalThis as any).leak = 42;\nDeno.pid",
    });
    const second = await ex.execute({
      profile,
      code: "const seen = await Deno.stat('/tmp/left-behind').then(() => true, () => false);\n({ seen, leak: (globalThis as any).leak ?? null, pid: Deno.pid })",
    });
    expect(first.status).toBe('success');
    expect(second.returnValue).toMatchObject({ seen: false, leak: null });
    await ex.drain();
  });

  it('refills in the background after each take', async () => {
    const ex = executor();
    await Promise.all([ex.execute({ profile, code: '1' }), ex.execute({ profile, code: '2' })]);
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
    const r = await ex.execute({ profile, code: '"still works"' });
    expect(r.returnValue).toBe('still works');
    await ex.drain();
  });

  it('serves a changed policy only with containers made for it', async () => {
    await until(() => pool.idleCount(profile) === 2);
    const stricter: SandboxProfile = { ...profile, permissions: {} };
    const ex = executor();
    const r = await ex.execute({
      profile: stricter,
      code: "(await Array.fromAsync(Deno.readDir('/workspace'))).length",
    });
    expect(r.status).toBe('error');
    expect(r.error?.name).toBe('NotCapable');
    const ok = await ex.execute({
      profile,
      code: "(await Array.fromAsync(Deno.readDir('/workspace'))).length",
    });
    expect(ok.error).toBeUndefined();
    expect(ok.returnValue).toBe(0);
    await ex.drain();
  });
});

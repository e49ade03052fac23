import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  conductorContainers,
  deployStack,
  docker,
  portInUse,
  readyStatus,
  waitFor,
  withSwarm,
} from '../scripts/deploy/swarm-lib.mjs';
import { connectHttp, ensureConductorImage, tenantsFile } from './deploy-helpers.js';
import { expectNoLeftovers } from './helpers.js';

const hasDocker = inject('docker');
const STACK = 'mcpc-test';
const URL = 'http://127.0.0.1:8787/mcp';

const swarmState = () => docker(['info', '--format', '{{.Swarm.LocalNodeState}}']);
const inspect = (id: string, format: string) => docker(['inspect', '--format', format, id]);
const list = async (args: string[]) => (await docker(args)).split('\n').filter(Boolean).sort();
const ofStack = ['--filter', `label=com.docker.stack.namespace=${STACK}`];

/** What the test may change on the engine: all of it must be as it was afterwards, whatever happened. */
async function engineState() {
  const swarm = await swarmState();
  return {
    swarm,
    networks: await list(['network', 'ls', '--format', '{{.Name}}']),
    volumes: await list(['volume', 'ls', '-q']),
    stackContainers: await list(['ps', '-aq', ...ofStack]),
    // Services, secrets and configs live in the swarm: leaving one that the test made drops them all.
    ...(swarm === 'active' && {
      services: await list(['service', 'ls', '-q', ...ofStack]),
      secrets: await list(['secret', 'ls', '--format', '{{.Name}}']),
      configs: await list(['config', 'ls', '--format', '{{.Name}}']),
    }),
  };
}

/** /metrics of the conductor on port 8787: how many executions it has admitted and not yet finished. */
async function activeExecutions(): Promise<number> {
  const text = await (await fetch('http://127.0.0.1:8787/metrics')).text();
  return Number(/^mcp_conductor_active_executions (\d+)$/m.exec(text)?.[1] ?? 0);
}

// A test that times out is abandoned by vitest, not stopped: without this, the worker could exit before the
// finally blocks below have removed the stack and left the swarm. Every wait in them is bounded.
let running: Promise<unknown> = Promise.resolve();
afterAll(() => running.catch(() => undefined), 600_000);

describe.skipIf(!hasDocker)('scripts/deploy/swarm.yaml on a one-node Docker Swarm', () => {
  it(
    'serves code on port 8787, lets an 8 s execution finish across a rolling update, and leaves nothing',
    () => (running = deployAndUpdate()),
    360_000,
  );
});

async function deployAndUpdate(): Promise<void> {
  await ensureConductorImage();
  if (await portInUse(8787))
    throw new Error('port 8787 is taken on this host; the stack publishes it in host mode');
  const before = await engineState();
  const { token, tenants } = tenantsFile();
  await withSwarm(async () => {
    const removeStack = await deployStack(STACK, tenants);
    try {
      const client = await connectHttp(URL, token);
      expect(await client.run('6 * 7')).toMatchObject({ status: 'success', returnValue: 42 });
      const [old] = await conductorContainers(STACK);

      let settled = false;
      const long = client
        .run('await new Promise((r) => setTimeout(r, 8000)); "survived"', 60_000)
        .finally(() => (settled = true));
      // Admitted (it holds its slot until it has run) before the update is asked for.
      await waitFor('the 8 s execution to be admitted', async () => (await activeExecutions()) === 1, 30_000);
      await docker(['service', 'update', '--force', '--detach', `${STACK}_conductor`]);
      // The old conductor has its SIGTERM (503 on /readyz) while the execution still runs…
      await waitFor(
        'the old conductor to begin its shutdown',
        async () => (await readyStatus()) === 503,
        30_000,
      );
      expect(settled).toBe(false);
      // …and delivers its result before it exits.
      const r = await long;
      expect(r).toMatchObject({ status: 'success', returnValue: 'survived' });
      expect(r.durationMs).toBeGreaterThanOrEqual(8000);
      await client.close();

      await waitFor('the new conductor to be ready', async () => (await readyStatus()) === 200, 120_000);
      const ids = await conductorContainers(STACK);
      const fresh = ids.find((id) => id !== old)!;
      expect(fresh).toBeDefined();
      // Stop-first: the old one exited cleanly before its replacement started.
      expect(await inspect(old!, '{{.State.ExitCode}}')).toBe('0');
      const finished = Date.parse(await inspect(old!, '{{.State.FinishedAt}}'));
      expect(Date.parse(await inspect(fresh, '{{.State.StartedAt}}'))).toBeGreaterThan(finished);
      // The stack's health check (Node asking /readyz, every 10 s) passes on the new one.
      const healthy = waitFor(
        'the health check of the new conductor to pass',
        async () => (await inspect(fresh, '{{.State.Health.Status}}')) === 'healthy',
        30_000,
      );
      const again = await connectHttp(URL, token);
      expect(await again.run('2 + 2')).toMatchObject({ status: 'success', returnValue: 4 });
      await again.close();
      await healthy;
    } finally {
      await removeStack();
    }
  });
  expect(await engineState()).toEqual(before);
  await expectNoLeftovers();
}

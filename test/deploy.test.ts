import { describe, expect, inject, it } from 'vitest';
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

describe.skipIf(!hasDocker)('scripts/deploy/swarm.yaml on a one-node Docker Swarm', () => {
  it('serves code on port 8787, lets an 8 s execution finish across a rolling update, and leaves nothing', async () => {
    await ensureConductorImage();
    if (await portInUse(8787))
      throw new Error('port 8787 is taken on this host; the stack publishes it in host mode');
    const before = await swarmState();
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
        // Under way (the call is queued, gets a container, runs) well before the update is asked for.
        await new Promise((r) => setTimeout(r, 1500));
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
        const again = await connectHttp(URL, token);
        expect(await again.run('2 + 2')).toMatchObject({ status: 'success', returnValue: 4 });
        await again.close();
      } finally {
        await removeStack();
      }
    });
    expect(await swarmState()).toBe(before);
    await expectNoLeftovers();
  }, 360_000);
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  conductorContainers,
  deployStack,
  docker,
  dockerList,
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
const ofStack = ['--filter', `label=com.docker.stack.namespace=${STACK}`];
/** An API token as swarm.yaml's commented stanza would give it: a Docker secret, read through MCP_CONDUCTOR_SECRETS_DIR. */
const TOKEN_SECRET = 'mcpc_test_api_token';
const TOKEN_VALUE = 'token-value-that-must-stay-in-the-conductor';

/**
 * Merged over swarm.yaml: the token as /run/secrets/API_TOKEN and a policy whose egress secret takes it by
 * { "env": "API_TOKEN" }; the tenant uses that policy, so the conductor could not start without the secret.
 */
async function tokenOverride(dir: string): Promise<string> {
  const policy = join(dir, 'egress-token.json');
  await writeFile(
    policy,
    JSON.stringify({
      egress: {
        allow: ['api.example.com'],
        secrets: { API_TOKEN: { env: 'API_TOKEN', hosts: ['api.example.com'] } },
      },
    }),
  );
  const file = join(dir, 'token.yaml');
  await writeFile(
    file,
    [
      "version: '3.8'",
      'services:',
      '  conductor:',
      '    secrets:',
      `      - { source: ${TOKEN_SECRET}, target: API_TOKEN, uid: '10001', mode: 0400 }`,
      '    configs:',
      '      - { source: policy_egress_token, target: /opt/mcp-conductor/policies/egress-token.json }',
      'secrets:',
      `  ${TOKEN_SECRET}: { external: true }`,
      'configs:',
      `  policy_egress_token: { name: mcpc-test-policy-egress-token, file: ${policy} }`,
      '',
    ].join('\n'),
  );
  return file;
}

/** What the test may change on the engine: all of it must be as it was afterwards, whatever happened. */
async function engineState() {
  const swarm = await swarmState();
  return {
    swarm,
    networks: await dockerList(['network', 'ls', '--format', '{{.Name}}']),
    volumes: await dockerList(['volume', 'ls', '-q']),
    stackContainers: await dockerList(['ps', '-aq', ...ofStack]),
    // Services, secrets and configs live in the swarm: leaving one that the test made drops them all.
    ...(swarm === 'active' && {
      services: await dockerList(['service', 'ls', '-q', ...ofStack]),
      secrets: await dockerList(['secret', 'ls', '--format', '{{.Name}}']),
      configs: await dockerList(['config', 'ls', '--format', '{{.Name}}']),
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
  const { token, tenants } = tenantsFile('egress-token');
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-deploy-'));
  await withSwarm(async () => {
    const removeStack = await deployStack(STACK, tenants, {
      files: [await tokenOverride(dir)],
      secrets: { [TOKEN_SECRET]: TOKEN_VALUE },
    });
    try {
      const client = await connectHttp(URL, token);
      expect(await client.run('6 * 7')).toMatchObject({ status: 'success', returnValue: 42 });
      const [old] = await conductorContainers(STACK);
      // The token secret reached the conductor (the sandbox gets its per-execution placeholder), and neither the
      // service nor the container shows its value.
      expect((await client.run(`Deno.env.get('API_TOKEN')`)).returnValue).toMatch(
        /^mcp-conductor-secret-API_TOKEN-[0-9a-f]{32}$/,
      );
      expect(await docker(['service', 'inspect', `${STACK}_conductor`])).not.toContain(TOKEN_VALUE);
      expect(await docker(['inspect', old!])).not.toContain(TOKEN_VALUE);

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
      await rm(dir, { recursive: true, force: true });
    }
  });
  expect(await engineState()).toEqual(before);
  await expectNoLeftovers();
}

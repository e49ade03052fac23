// A one-node Docker Swarm on this machine's engine for test/deploy.test.ts and scripts/bench/deploy.mjs: deploy
// scripts/deploy/swarm.yaml, wait for it, remove it, and give the engine back in the swarm state it had. The swarm
// listens and advertises on loopback only; the stack publishes 8787 in host mode (the routing mesh is not needed).
import { execFile } from 'node:child_process';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const stackFile = new URL('swarm.yaml', import.meta.url).pathname;
export const DATA_VOLUME = 'mcp-conductor';

/** The docker CLI (stack deploy is the CLI's, not the API's); resolves with stdout, trimmed. */
export async function docker(args, { env, timeoutMs = 120_000 } = {}) {
  try {
    const { stdout } = await run('docker', args, {
      env: { ...process.env, ...env },
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout.trim();
  } catch (error) {
    const failure = new Error(
      `docker ${args.join(' ')} failed: ${String(error.stderr ?? error.message).trim()}`,
    );
    throw Object.assign(failure, { exitCode: error.code, stdout: String(error.stdout ?? '') });
  }
}

/** The lines a docker CLI command prints (ids, names), sorted. */
export async function dockerList(args) {
  return (await docker(args)).split('\n').filter(Boolean).sort();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 500 ms until it returns something truthy; throws with `what` after `timeoutMs`. */
export async function waitFor(what, check, timeoutMs = 90_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/**
 * Runs `fn` on a swarm: this engine's, if it is in one, or a one-node swarm made for it and left afterwards, even
 * when `fn` throws. Leaving also drops the docker_gwbridge network that joining made, unless it was there before.
 */
export async function withSwarm(fn) {
  const state = await docker(['info', '--format', '{{.Swarm.LocalNodeState}}']);
  if (state !== 'inactive' && state !== 'active')
    throw new Error(`the engine's swarm state is "${state}": neither in a swarm nor out of one`);
  const hadBridge = (await dockerList(['network', 'ls', '--format', '{{.Name}}'])).includes(
    'docker_gwbridge',
  );
  if (state === 'inactive')
    await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377']);
  try {
    return await fn();
  } finally {
    if (state === 'inactive') {
      await docker(['swarm', 'leave', '--force']);
      if (!hadBridge) await docker(['network', 'rm', 'docker_gwbridge']).catch(() => undefined);
    }
  }
}

/** Whether something on this host already listens on the port (a host-mode publish would fail). */
export async function portInUse(port) {
  return fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) }).then(
    () => true,
    (error) => error.cause?.code !== 'ECONNREFUSED',
  );
}

/** Status of the stack's /readyz on this node, or 0 while nothing answers. */
export async function readyStatus(port = 8787) {
  // A proxy in front of a starting container may accept and never answer: every probe has a deadline.
  return fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    () => 0,
  );
}

/** The ids of the stack's conductor containers on this node, running or not. */
export async function conductorContainers(stack) {
  return dockerList([
    'ps',
    '-aq',
    '--no-trunc',
    '--filter',
    `label=com.docker.swarm.service.name=${stack}_conductor`,
  ]);
}

/**
 * Deploys the stack with the tenants file `tenants` (an object) as the secret mcp_conductor_tenants (and `secrets`,
 * name → value, beside it), `files` merged over swarm.yaml, and waits until /readyz answers 200. Returns a function
 * that removes the stack, the secrets it made and (when the stack made it) the data volume, and waits until the
 * stack's containers and every sandbox are gone; a deploy that fails has done that already.
 */
export async function deployStack(stack, tenants, { env = {}, files = [], secrets = {} } = {}) {
  const hadVolume = (await dockerList(['volume', 'ls', '-q'])).includes(DATA_VOLUME);
  const made = [];
  const remove = async () => {
    await docker(['stack', 'rm', stack]).catch(() => undefined);
    // stack rm returns at once; the conductor stops (removing its sandboxes) and its container goes after.
    await waitFor(
      'the stack’s containers to go',
      async () => (await conductorContainers(stack)).length === 0,
      180_000,
    );
    await waitFor(
      'the stack’s network to go',
      async () =>
        !(await dockerList(['network', 'ls', '--format', '{{.Name}}'])).includes(`${stack}_default`),
      60_000,
    );
    for (const name of made) await docker(['secret', 'rm', name]).catch(() => undefined);
    if (!hadVolume) await docker(['volume', 'rm', DATA_VOLUME]).catch(() => undefined);
  };
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-stack-'));
  try {
    for (const [name, value] of Object.entries({
      mcp_conductor_tenants: JSON.stringify(tenants),
      ...secrets,
    })) {
      const file = join(dir, name);
      await writeFile(file, value);
      await docker(['secret', 'create', name, file]);
      made.push(name);
    }
    await rm(dir, { recursive: true, force: true });
    await docker(['stack', 'deploy', ...[stackFile, ...files].flatMap((f) => ['-c', f]), stack], { env });
    await waitFor(
      'the conductor to be ready on port 8787',
      async () => (await readyStatus()) === 200,
      120_000,
    );
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    await remove();
    throw error;
  }
  return remove;
}

import { execFile } from 'node:child_process';
import { chmod, chown, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { DATA_VOLUME, docker, dockerList, portInUse, waitFor } from '../scripts/deploy/swarm-lib.mjs';
import { CONDUCTOR_UID } from '../src/image/index.js';
import { connectHttp, ensureConductorImage, tenantsFile } from './deploy-helpers.js';
import { expectNoLeftovers, repoRoot } from './helpers.js';

const run = promisify(execFile);
const PROJECT = 'mcpc-test-compose';
const composeFile = join(repoRoot, 'scripts/deploy/compose.yaml');
// docker-compose (v1, Debian's package) is not part of the engine: scripts/docker-setup.sh installs it, and CI
// (CI=true or MCP_CONDUCTOR_REQUIRE_DOCKER=1) fails rather than skip this file without it.
const hasCompose = await run('docker-compose', ['version']).then(
  () => true,
  () => false,
);
if (inject('docker') && !hasCompose) {
  if (inject('dockerRequired'))
    throw new Error('docker-compose is not installed: scripts/docker-setup.sh installs it');
  process.stderr.write('\n*** COMPOSE TEST SKIPPED: docker-compose is not installed ***\n\n');
}

describe.skipIf(!inject('docker') || !hasCompose)('scripts/deploy/compose.yaml with docker-compose', () => {
  let env: Record<string, string | undefined> = {};
  let hadVolume = false;
  const compose = (...args: string[]) =>
    run('docker-compose', ['-p', PROJECT, '-f', composeFile, ...args], { env, timeout: 180_000 });

  afterAll(async () => {
    // Removes the project's container and network, and the data volume unless it was there before.
    await compose('down', ...(hadVolume ? [] : ['--volumes'])).catch(() => undefined);
    expect(
      await dockerList(['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`]),
    ).toEqual([]);
    expect(await dockerList(['network', 'ls', '--format', '{{.Name}}'])).not.toContain(`${PROJECT}_default`);
    if (!hadVolume) expect(await dockerList(['volume', 'ls', '-q'])).not.toContain(DATA_VOLUME);
    await expectNoLeftovers();
  }, 240_000);

  it('comes up healthy on 127.0.0.1:8787 and runs code in the tenant’s workspace', async () => {
    await ensureConductorImage();
    if (await portInUse(8787)) throw new Error('port 8787 is taken on this host; compose.yaml publishes it');
    hadVolume = (await dockerList(['volume', 'ls', '-q'])).includes(DATA_VOLUME);
    const { token, tenants } = tenantsFile();
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-compose-'));
    const file = join(dir, 'tenants.json');
    await writeFile(file, JSON.stringify(tenants));
    // As the file's comment says: readable by the conductor user alone.
    await chown(file, CONDUCTOR_UID, 0);
    await chmod(file, 0o400);
    env = { ...process.env, MCP_CONDUCTOR_TENANTS_FILE: file };
    await compose('up', '-d');
    const [id] = await dockerList(['ps', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    // The file's health check (Node asking /readyz every 10 s) is what turns it healthy.
    await waitFor(
      'the conductor to be healthy',
      async () => (await docker(['inspect', '--format', '{{.State.Health.Status}}', id!])) === 'healthy',
      60_000,
    );
    const client = await connectHttp('http://127.0.0.1:8787/mcp', token);
    const r = await client.run(
      'await Deno.writeTextFile("/workspace/a.txt", "kept"); Deno.readTextFileSync("/workspace/a.txt")',
    );
    await client.close();
    expect(r).toMatchObject({ status: 'success', returnValue: 'kept' });
    await compose('stop');
    expect(await docker(['inspect', '--format', '{{.State.ExitCode}}', id!])).toBe('0');
  }, 180_000);
});

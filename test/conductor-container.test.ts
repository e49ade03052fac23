import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DATA_VOLUME, docker, readyStatus, waitFor } from '../scripts/deploy/swarm-lib.mjs';
import { createDockerClient, LABEL_OWNER_CONTAINER, type ManagedContainer } from '../src/docker/index.js';
import { QUOTA_IN_CONTAINER } from '../src/conductor/index.js';
import { CONDUCTOR_UID, DATA_DIR, type ConductorImageRef } from '../src/image/index.js';
import { connectHttp, ensureConductorImage, tenantsFile } from './deploy-helpers.js';
import { expectNoLeftovers, freePort, repoRoot } from './helpers.js';

const hasDocker = inject('docker');
const engine = createDockerClient();
const { token, tenants } = tenantsFile();
const names = [
  'mcpc-test-conductor-a',
  'mcpc-test-conductor-b',
  'mcpc-test-conductor-egress',
  'mcpc-test-conductor-quota',
] as const;
/** An API on a network this file makes, for the conductor's egress gateway to reach (plain HTTP, port 8080). */
const API = {
  name: 'mcpc-test-egress-api',
  network: 'mcpc-test-egress',
  authority: 'mcpc-test-egress-api:8080',
};
// It answers with the Authorization header it got, and its SHA-256: the gateway redacts the one, not the other.
const API_SCRIPT = `require('node:http').createServer((q, s) => {
  const a = q.headers.authorization ?? '';
  const sha256 = require('node:crypto').createHash('sha256').update(a).digest('hex');
  s.setHeader('content-type', 'application/json');
  s.end(JSON.stringify({ authorization: a, sha256 }));
}).listen(8080);`;
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const workspacePolicy = join(repoRoot, 'scripts/deploy/policies/workspace.json');
/** The conductor containers this file started: whatever they left is removed even when a test fails. */
const started = new Set<string>();

/**
 * What `docker run` of the conductor image needs: the engine socket, the data volume at its host path, the tenants
 * (and `extra` arguments of `docker run`).
 */
async function runConductor(
  name: string,
  port: number,
  tenantsPath: string,
  extra: string[] = [],
): Promise<string> {
  const id = await docker([
    'run',
    '--detach',
    '--name',
    name,
    '--volume',
    '/var/run/docker.sock:/var/run/docker.sock',
    '--volume',
    `${DATA_VOLUME}:${DATA_DIR}`,
    '--volume',
    `${tenantsPath}:/etc/mcp-conductor/tenants.json:ro`,
    '--volume',
    `${workspacePolicy}:/opt/mcp-conductor/policies/workspace.json:ro`,
    '--env',
    'MCP_CONDUCTOR_TENANTS=/etc/mcp-conductor/tenants.json',
    '--env',
    'MCP_CONDUCTOR_POOL_SIZE=2',
    '--publish',
    `127.0.0.1:${port}:8787`,
    ...extra,
    'mcp-conductor:latest',
    ...['serve', '--host', '0.0.0.0', '--stateless', '--allowed-host', `127.0.0.1:${port}`],
  ]);
  started.add(id);
  return id;
}

const ownedBy = (id: string, list: ManagedContainer[]) =>
  list.filter((c) => c.labels[LABEL_OWNER_CONTAINER] === id);

describe.skipIf(!hasDocker)('the conductor as a container, with the host’s engine', () => {
  let tenantsPath: string;
  let hadVolume = false;

  let image: ConductorImageRef;

  beforeAll(async () => {
    image = await ensureConductorImage();
    hadVolume = (await docker(['volume', 'ls', '-q'])).split('\n').includes(DATA_VOLUME);
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-tenants-'));
    tenantsPath = join(dir, 'tenants.json');
    await writeFile(tenantsPath, JSON.stringify(tenants), { mode: 0o644 });
  });

  afterAll(async () => {
    for (const name of [...names, API.name]) await docker(['rm', '--force', name]).catch(() => undefined);
    await docker(['network', 'rm', API.network]).catch(() => undefined);
    const orphans = (await engine.listManaged()).filter((c) =>
      started.has(c.labels[LABEL_OWNER_CONTAINER] ?? ''),
    );
    for (const c of orphans) await engine.remove(c.id);
    await expectNoLeftovers();
    if (!hadVolume) await docker(['volume', 'rm', DATA_VOLUME]);
  });

  it('is built FROM scratch as mcp-conductor:<version> and :latest, runs as a non-root user, says its size', async () => {
    const { version } = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as {
      version: string;
    };
    expect(image.tags).toEqual([`mcp-conductor:${version}`, 'mcp-conductor:latest']);
    const [a, b] = await Promise.all(
      image.tags.map((t) => docker(['image', 'inspect', '--format', '{{json .}}', t])),
    );
    expect(a).toBe(b);
    const inspected = JSON.parse(a!) as {
      Size: number;
      Config: { User: string };
      RootFS: { Layers: string[] };
    };
    expect(inspected.Size).toBe(image.sizeBytes);
    expect(inspected.Config.User).toBe('conductor');
    // No base image: the COPY of its files and the RUN that hands the data directory to the conductor user.
    expect(inspected.RootFS.Layers).toHaveLength(2);
    const history = (
      await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', image.tags[1]!])
    ).split('\n');
    expect(history.at(-1)).toMatch(/#\(nop\) COPY dir:\w+ in \/ *$/);
    const id = await docker([
      'run',
      '--rm',
      '--entrypoint',
      '/usr/local/bin/node',
      image.tags[1]!,
      '-p',
      'process.getuid()',
    ]);
    expect(Number(id)).toBe(CONDUCTOR_UID);
  });

  it('runs code, keeps outputs beside a live replica on the same host, and a successor reaps a killed one', async () => {
    const [port, port2] = [await freePort(), await freePort()];
    // Two replicas on one host sharing the data volume and, as with host networking, one host name: each is pid 1
    // of its own container, so only the engine can tell whether the other still runs.
    const replica = ['--hostname', 'mcpc-test-replica'];
    const first = await runConductor(names[0], port, tenantsPath, replica);
    await waitFor('the conductor in a container to be ready', async () => (await readyStatus(port)) === 200);
    const client = await connectHttp(`http://127.0.0.1:${port}/mcp`, token);
    const r = await client.run(
      'await Deno.writeTextFile("/workspace/kept.txt", "from a"); console.log("x".repeat(100_000)); 6 * 7',
    );
    expect(r).toMatchObject({ status: 'success', returnValue: 42, truncated: { stdout: true } });
    const kept = r.retained?.stdout?.uri ?? '';
    expect(kept).toMatch(/^conductor:\/\/executions\/.+\/stdout$/);

    // Its doctor finds its own container on the engine and the paths it hands to sandboxes the same on the host.
    const doctor = await docker([
      'exec',
      names[0],
      '/usr/local/bin/node',
      '/opt/mcp-conductor/dist/cli.js',
      'doctor',
    ]);
    expect(doctor).toContain(`ok   container    in container ${first.slice(0, 12)}:`);

    // The tenant's pool refills after its first run; those containers name this conductor's container.
    const left = await waitFor('the pool to refill', async () => {
      const mine = ownedBy(first, await engine.listManaged());
      return mine.length >= 2 && mine;
    });
    const retainedBase = join(DATA_DIR, 'retained');
    const owners = async () => {
      const dirs = await readdir(retainedBase);
      const read = (d: string) => readFile(join(retainedBase, d, 'owner.json'), 'utf8');
      return Promise.all(
        dirs.map(async (d) => (JSON.parse(await read(d)) as Record<string, string>)[LABEL_OWNER_CONTAINER]),
      );
    };

    // The second replica's start-up judges the first's containers and kept outputs alive: nothing of it goes.
    const second = await runConductor(names[1], port2, tenantsPath, replica);
    await waitFor('the second replica to be ready', async () => (await readyStatus(port2)) === 200);
    const ids = new Set((await engine.listManaged()).map((c) => c.id));
    expect(left.filter((c) => !ids.has(c.id))).toEqual([]);
    expect((await owners()).sort()).toEqual([first, second].sort());
    expect(await client.read(kept)).toBe(`${'x'.repeat(100_000)}\n`);
    await client.close();

    await docker(['kill', names[0]]);
    await docker(['rm', names[0]]);
    expect(ownedBy(first, await engine.listManaged()).length).toBe(left.length);

    // The second restarted in place: pid 1 again. It asks the engine, finds the first's container gone, and
    // removes what it left: its sandboxes and its kept outputs.
    await docker(['restart', '-t', '60', names[1]]);
    await waitFor('the restarted replica to be ready', async () => (await readyStatus(port2)) === 200);
    const after = new Set((await engine.listManaged()).map((c) => c.id));
    expect(left.filter((c) => after.has(c.id))).toEqual([]);
    expect(await owners()).toEqual([second]);
    const next = await connectHttp(`http://127.0.0.1:${port2}/mcp`, token);
    expect((await next.run('Deno.readTextFileSync("/workspace/kept.txt")')).returnValue).toBe('from a');
    await next.close();

    // A graceful stop removes its own containers, socket directories and kept outputs.
    await docker(['stop', '-t', '60', names[1]]);
    expect(ownedBy(second, await engine.listManaged())).toEqual([]);
    const mountpoint = await docker(['volume', 'inspect', '--format', '{{.Mountpoint}}', DATA_VOLUME]);
    expect(mountpoint).toBe(DATA_DIR);
    expect(await readdir(join(mountpoint, 'sockets'))).toEqual([]);
    expect(await readdir(retainedBase)).toEqual([]);
  }, 300_000);

  it('reaches an API through its egress gateway, the secret a file of MCP_CONDUCTOR_SECRETS_DIR', async () => {
    // Readable by the conductor's user (10001), as Docker secrets are: the directory itself is mounted.
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-egress-'));
    const secrets = join(dir, 'secrets');
    await mkdir(secrets);
    await chmod(dir, 0o755);
    await chmod(secrets, 0o755);
    const value = randomBytes(16).toString('hex');
    await writeFile(join(secrets, 'API_TOKEN'), `${value}\n`, { mode: 0o644 });
    const policy = join(dir, 'egress.json');
    const egress = {
      allow: [API.authority],
      secrets: { API_TOKEN: { env: 'API_TOKEN', hosts: [API.authority] } },
    };
    await writeFile(policy, JSON.stringify({ egress }), { mode: 0o644 });
    const { token, tenants } = tenantsFile('egress');
    const tenantsPath = join(dir, 'tenants.json');
    await writeFile(tenantsPath, JSON.stringify(tenants), { mode: 0o644 });

    await docker(['network', 'create', API.network]);
    const api = ['--name', API.name, '--network', API.network, '--entrypoint', '/usr/local/bin/node'];
    await docker(['run', '--detach', ...api, 'mcp-conductor:latest', '-e', API_SCRIPT]);
    const port = await freePort();
    const id = await runConductor(names[2], port, tenantsPath, [
      ...['--network', API.network, '--volume', `${secrets}:/run/secrets:ro`],
      ...['--env', 'MCP_CONDUCTOR_SECRETS_DIR=/run/secrets'],
      ...['--volume', `${policy}:/opt/mcp-conductor/policies/egress.json:ro`],
    ]);
    await waitFor('the conductor with egress to be ready', async () => (await readyStatus(port)) === 200);
    const client = await connectHttp(`http://127.0.0.1:${port}/mcp`, token);
    const r = await client.run(`
      const placeholder = Deno.env.get('API_TOKEN');
      const res = await fetch('http://${API.authority}/', { headers: { authorization: 'Bearer ' + placeholder } });
      const body = await res.json();
      return { status: res.status, placeholder, echoed: body.authorization, sha256: body.sha256 };
    `);
    await client.close();
    expect(r.status).toBe('success');
    const v = r.returnValue as { status: number; placeholder: string; echoed: string; sha256: string };
    expect(v.placeholder).toMatch(/^mcp-conductor-secret-API_TOKEN-[0-9a-f]{32}$/);
    // The API got the value from the secret file; the code saw only the placeholder, also where it was echoed.
    expect(v).toMatchObject({
      status: 200,
      echoed: `Bearer ${v.placeholder}`,
      sha256: sha256(`Bearer ${value}`),
    });
    expect(JSON.stringify(r)).not.toContain(value);
    await docker(['stop', '-t', '60', names[2]]);
    expect(ownedBy(id, await engine.listManaged())).toEqual([]);
  }, 180_000);

  it('refuses paths the engine would look for elsewhere on the host, and its doctor explains them', async () => {
    const args = ['run', '--rm', '--volume', '/var/run/docker.sock:/var/run/docker.sock'];
    const outcome = (cmd: string[], extra: string[] = []) =>
      docker([...args, ...extra, 'mcp-conductor:latest', ...cmd]).then(
        (stdout) => ({ exitCode: 0, stdout, message: '' }),
        (error: Error & { exitCode: number; stdout: string }) => error,
      );
    const doctor = await outcome(['doctor']);
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toMatch(
      /FAIL container {4}this conductor runs in a container and the engine resolves bind mounts on the host: MCP_CONDUCTOR_SOCKET_DIR \S+ is not mounted from the host/,
    );
    // Mounted, but from another host path: the doctor says where the engine would look, and what to mount.
    const elsewhere = await mkdtemp(join(tmpdir(), 'mcpc-elsewhere-'));
    const moved = await outcome(
      ['doctor'],
      ['--volume', `${elsewhere}:/data`, '--env', 'MCP_CONDUCTOR_SOCKET_DIR=/data/s'],
    );
    expect(moved.exitCode).toBe(1);
    expect(moved.stdout).toContain(
      `MCP_CONDUCTOR_SOCKET_DIR /data/s is ${elsewhere}/s on the host: mount it at the same path inside as outside (at ${elsewhere}/s)`,
    );
    const serve = await outcome(['stdio']);
    expect(serve.exitCode).toBe(1);
    expect(serve.message).toContain('MCP_CONDUCTOR_SOCKET_DIR');
    expect(serve.message).toContain('is not mounted from the host');
  }, 120_000);

  it('refuses a workspace quota, at start-up and in its doctor: its mount would not reach the sandboxes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-tenants-'));
    const quotaTenants = join(dir, 'tenants.json');
    const {
      tenants: [acme],
    } = tenants as { tenants: [Record<string, unknown>] };
    await writeFile(quotaTenants, JSON.stringify({ tenants: [{ ...acme, workspaceQuotaMb: 64 }] }), {
      mode: 0o644,
    });
    const run = (cmd: string[]) =>
      docker([
        ...['run', '--rm', '--name', names[3], '--volume', '/var/run/docker.sock:/var/run/docker.sock'],
        ...[
          '--volume',
          `${DATA_VOLUME}:${DATA_DIR}`,
          '--volume',
          `${quotaTenants}:/etc/mcp-conductor/tenants.json:ro`,
        ],
        ...['--volume', `${workspacePolicy}:/opt/mcp-conductor/policies/workspace.json:ro`],
        ...['--env', 'MCP_CONDUCTOR_TENANTS=/etc/mcp-conductor/tenants.json', 'mcp-conductor:latest', ...cmd],
      ]).then(
        (stdout) => ({ exitCode: 0, stdout, message: '' }),
        (error: Error & { exitCode: number; stdout: string }) => error,
      );
    const doctor = await run(['doctor']);
    expect(doctor.exitCode).toBe(1);
    expect(doctor.stdout).toContain(`FAIL quota host   ${QUOTA_IN_CONTAINER}`);
    const serve = await run(['serve', '--host', '0.0.0.0']);
    expect(serve.exitCode).toBe(1);
    expect(serve.message).toContain(`${QUOTA_IN_CONTAINER}; refused: ${DATA_DIR}/workspace/acme`);
    // Refused before anything was made: no image beside the workspace.
    expect(await readdir(join(DATA_DIR, 'workspace')).catch(() => [])).not.toContain('acme.ext4');
  }, 120_000);
});

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { cliPath, expectNoLeftovers, startConductor, waitForManaged } from './helpers.js';

const docker = inject('docker');
const imageTag = inject('imageTag');
const run = promisify(execFile);
const dockerCli = (...args: string[]) => run('docker', args);

/** Runs the CLI to completion (stdin held open, so `stdio` only ends by itself on failure). */
async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: await mkdtemp(join(tmpdir(), 'mcpc-home-')), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A Unix-socket proxy in front of the real engine, which the test can cut and restore. */
function engineProxy(path: string, target = '/var/run/docker.sock') {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  return {
    async up() {
      server = createServer((client) => {
        const upstream = connect(target);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      await new Promise<void>((resolve) => server!.listen(path, resolve));
    },
    async down() {
      if (!server) return;
      // Closing a Unix-socket server unlinks its path: new connections get ENOENT, open ones are cut.
      const closed = new Promise((resolve) => server!.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
      server = undefined;
    },
  };
}

describe.skipIf(!docker)('Docker faults', () => {
  afterAll(async () => {
    await expectNoLeftovers();
  });

  it('an unreachable engine at start: stdio and serve exit 1 saying why, and doctor says why', async () => {
    const env = { DOCKER_HOST: 'unix:///nonexistent/docker.sock' };
    for (const args of [['stdio'], ['serve', '--port', '0']]) {
      const r = await cli(args, env);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('The Docker engine is not reachable (ENOENT');
      expect(r.stderr).toContain('DOCKER_HOST');
      expect(r.stderr).not.toContain('    at ');
    }
    const doctor = await cli(['doctor'], env);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toMatch(/FAIL docker\s+The Docker engine is not reachable \(ENOENT/);
    // The same over TCP (nothing listens on port 1 of loopback).
    const tcp = await cli(['doctor'], { DOCKER_HOST: 'tcp://127.0.0.1:1' });
    expect(tcp.code).toBe(1);
    expect(tcp.stdout).toMatch(/FAIL docker\s+The Docker engine is not reachable \(ECONNREFUSED/);
  });

  it('an engine that goes away mid-run: a run in flight still answers, later calls fail clearly, nothing crashes, and it works again when the engine returns', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-proxy-'));
    const proxy = engineProxy(join(dir, 'docker.sock'));
    await proxy.up();
    const conductor = await startConductor('stdio', {
      DOCKER_HOST: `unix://${join(dir, 'docker.sock')}`,
      MCP_CONDUCTOR_POOL_SIZE: '2',
    });
    try {
      expect((await conductor.run('40 + 2')).result.returnValue).toBe(42);

      // Cut during a run: the code and its result travel over the execution's own socket, not through the engine,
      // so the run in flight still answers (its container is left for close to reap).
      const during = conductor.run('await new Promise((r) => setTimeout(r, 3000)); "finished"');
      await new Promise((r) => setTimeout(r, 1500));
      await proxy.down();
      const cut = await during;
      expect(cut.isError).toBe(false);
      expect(cut.result.returnValue).toBe('finished');

      // Between runs, still down: the (at most 2) containers already waiting may serve; then the cold path must
      // say clearly that the engine is gone.
      const down: Awaited<ReturnType<typeof conductor.run>>[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await conductor.run(`${i}`);
        down.push(r);
        if (r.isError) break;
      }
      const failed = down.at(-1)!;
      expect(failed.isError).toBe(true);
      expect(failed.text).toContain('The Docker engine is not reachable');
      for (const [i, r] of down.slice(0, -1).entries()) expect(r.result.returnValue).toBe(i);

      await proxy.up();
      const back = await conductor.run('"back"');
      expect(back.isError).toBe(false);
      expect(back.result.returnValue).toBe('back');
      // The pool recovers too: after its back-off it refills, and pooled runs work.
      for (let i = 0; i < 5; i++) expect((await conductor.run(String(i))).result.returnValue).toBe(i);
      // What could not be removed during the outage is removed once the engine answers again, not only at
      // shutdown: what remains is the pool's 2 idle containers.
      const left = await waitForManaged((l) => l.length <= 2, 200);
      expect(left.length).toBeLessThanOrEqual(2);
      expect(conductor.stderr()).not.toMatch(/unhandled|uncaught/i);
    } finally {
      await conductor.close();
      await proxy.down();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the image deleted while serving: a clear error telling the admin to build it', async () => {
    const backup = `mcpc-faults-backup:${process.pid}`;
    const conductor = await startConductor('stdio', { MCP_CONDUCTOR_POOL_SIZE: '0' });
    try {
      expect((await conductor.run('1')).result.returnValue).toBe(1);
      // The image stays on the engine under the test's own tag; only the conductor's tag goes, briefly.
      await dockerCli('tag', imageTag, backup);
      try {
        await dockerCli('rmi', imageTag);
        const r = await conductor.run('2');
        expect(r.isError).toBe(true);
        expect(r.text).toContain(`The sandbox image ${imageTag} is missing`);
        expect(r.text).toContain('mcp-conductor image');
      } finally {
        await dockerCli('tag', backup, imageTag);
        await dockerCli('rmi', backup);
      }
      expect((await conductor.run('3')).result.returnValue).toBe(3);
    } finally {
      await conductor.close();
    }
  });
});

describe.skipIf(!docker)('networks for networked policies', () => {
  const policy = async (network: string) => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-netpol-'));
    const path = join(dir, 'net.json');
    await writeFile(path, JSON.stringify({ container: { network } }));
    return path;
  };

  afterAll(async () => {
    await expectNoLeftovers();
  });

  it('creates its own network, labelled and with containers unable to reach each other, and runs code on it', async () => {
    const name = `mcpc-test-net-${process.pid}`;
    try {
      const conductor = await startConductor('stdio', { MCP_CONDUCTOR_POLICY: await policy(name) });
      try {
        expect((await conductor.run('"on the network"')).result.returnValue).toBe('on the network');
      } finally {
        await conductor.close();
      }
      const { stdout } = await dockerCli('network', 'inspect', name, '--format', '{{json .}}');
      const net = JSON.parse(stdout) as { Labels: Record<string, string>; Options: Record<string, string> };
      expect(net.Labels['mcp-conductor.managed']).toBe('true');
      expect(net.Options['com.docker.network.bridge.enable_icc']).toBe('false');
    } finally {
      await dockerCli('network', 'rm', name).catch(() => undefined);
    }
  });

  it("refuses Docker's own networks and a network it did not create", async () => {
    const bridge = await cli(['stdio'], { MCP_CONDUCTOR_POLICY: await policy('bridge') });
    expect(bridge.code).toBe(1);
    expect(bridge.stderr).toContain(`network "bridge" is one of Docker's own`);

    const foreign = `mcpc-test-foreign-${process.pid}`;
    await dockerCli('network', 'create', foreign);
    try {
      const r = await cli(['stdio'], { MCP_CONDUCTOR_POLICY: await policy(foreign) });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`"${foreign}" exists but was not created by mcp-conductor`);
    } finally {
      await dockerCli('network', 'rm', foreign);
    }
  });
});

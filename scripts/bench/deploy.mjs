// Throughput through the Swarm stack (scripts/deploy/swarm.yaml: the conductor image, host-mode port 8787) against
// `serve --stateless` run straight from this checkout on the same host, in one run: trivial executions over
// Streamable HTTP at concurrency 1 and 4, same tenant, same pool and caps. Needs the engine to itself (swarm mode
// for the run); builds mcp-conductor:latest first when it is stale.
// Usage: node scripts/bench/deploy.mjs [--executions 100]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDockerClient } from '../../dist/docker/index.js';
import { buildConductorImage } from '../../dist/image/index.js';
import { deployStack, docker, readyStatus, waitFor, withSwarm } from '../deploy/swarm-lib.mjs';
import { flags, freePort, percentile } from './lib.mjs';

const { executions: total } = flags({ executions: 100 });
const root = new URL('../..', import.meta.url).pathname;
const token = randomBytes(16).toString('hex');
const tokenSha256 = createHash('sha256').update(token).digest('hex');
const tenants = {
  tenants: [{ id: 'bench', tokenSha256, policy: 'default', maxConcurrent: 4, maxQueued: 64 }],
};
const CONCURRENCY = [1, 4];

async function measure(url, concurrency) {
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const c = new Client({ name: 'bench-deploy', version: '1' });
      const headers = { Authorization: `Bearer ${token}` };
      await c.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
      return c;
    }),
  );
  const call = async (client, i) => {
    const r = await client.callTool({ name: 'run_deno_code', arguments: { deno_code: `${i} * 2` } });
    if (r.isError || r.structuredContent?.returnValue !== i * 2) throw new Error(JSON.stringify(r.content));
  };
  // Warm-up, then a pause for the pool to refill.
  for (const c of clients) await call(c, 0);
  await new Promise((r) => setTimeout(r, 3000));
  let next = 0;
  let failures = 0;
  const samples = [];
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      while (next < total) {
        const i = next++;
        const s = performance.now();
        await call(client, i).catch(() => failures++);
        samples.push(performance.now() - s);
      }
    }),
  );
  const perSecond = total / ((performance.now() - t0) / 1000);
  await Promise.all(clients.map((c) => c.close()));
  samples.sort((a, b) => a - b);
  return { perSecond, p50: percentile(samples, 50), failures };
}

async function onHost() {
  const dir = mkdtempSync(join(tmpdir(), 'bench-deploy-'));
  writeFileSync(join(dir, 'tenants.json'), JSON.stringify(tenants));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [join(root, 'dist/cli.js'), 'serve', '--stateless', '--port', String(port)],
    {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        MCP_CONDUCTOR_LOG_LEVEL: 'warn',
        MCP_CONDUCTOR_TENANTS: join(dir, 'tenants.json'),
        MCP_CONDUCTOR_WORKSPACE: join(dir, 'workspace'),
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitFor('serve on the host', async () => (await readyStatus(port)) === 200);
    const rows = [];
    for (const c of CONCURRENCY) rows.push(await measure(`http://127.0.0.1:${port}/mcp`, c));
    return rows;
  } catch (error) {
    throw new Error(`serve on the host: ${error.message}`, { cause: error });
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

async function throughStack() {
  return withSwarm(async () => {
    const remove = await deployStack('mcpc-bench', tenants);
    try {
      const rows = [];
      for (const c of CONCURRENCY) rows.push(await measure('http://127.0.0.1:8787/mcp', c));
      return rows;
    } catch (error) {
      // Say why Swarm stopped or replaced the conductor, if it did (an unhealthy task, an exit code).
      const tasks = await docker(['service', 'ps', '--no-trunc', 'mcpc-bench_conductor']).catch(String);
      throw new Error(`through the stack: ${error.message}\n${tasks}`, { cause: error });
    } finally {
      await remove();
    }
  });
}

await buildConductorImage({
  docker: createDockerClient(),
  packageRoot: root,
  env: process.env,
  onProgress: (line) => process.stderr.write(`${line}\n`),
});
const host = await onHost();
const stack = await throughStack();
const lines = [
  `\nThrough the Swarm stack vs serve on the same host, ${total} trivial executions per row (--stateless, pool 4, cap 4)`,
  '| concurrency | host exec/s | stack exec/s | ratio | host p50 ms | stack p50 ms | p50 ratio | failures (host/stack) |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...CONCURRENCY.map((c, i) => {
    const h = host[i];
    const s = stack[i];
    return `| ${c} | ${h.perSecond.toFixed(1)} | ${s.perSecond.toFixed(1)} | ${(s.perSecond / h.perSecond).toFixed(2)}x | ${h.p50.toFixed(1)} | ${s.p50.toFixed(1)} | ${(s.p50 / h.p50).toFixed(2)}x | ${h.failures}/${s.failures} |`;
  }),
];
process.stdout.write(`${lines.join('\n')}\n`);

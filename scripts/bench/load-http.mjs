// Load on `mcp-conductor serve`: N trivial executions at concurrency C over real Streamable HTTP sessions, then a
// graceful shutdown. Reports throughput, latency, failures, containers left behind and the server's memory.
// Usage: node scripts/bench/load-http.mjs [--executions 200] [--concurrency 8]. Also used by test/load.test.ts.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flags, freePort, percentile } from './lib.mjs';

const root = new URL('../..', import.meta.url).pathname;

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const managedContainers = () =>
  execFileSync('docker', ['ps', '-aq', '--filter', 'label=mcp-conductor.managed=true'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean).length;

export async function runLoad({ total = 200, concurrency = 8 } = {}) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'dist/cli.js'), 'serve', '--port', String(port)], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      MCP_CONDUCTOR_LOG_LEVEL: 'warn',
      MCP_CONDUCTOR_WORKSPACE: mkdtempSync(join(tmpdir(), 'load-ws-')),
      MCP_CONDUCTOR_MAX_CONCURRENCY: String(concurrency),
      MCP_CONDUCTOR_POOL_SIZE: String(concurrency),
      MCP_CONDUCTOR_MAX_QUEUED: String(total),
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const clients = await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const c = new Client({ name: 'load', version: '1' });
      await c.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
      return c;
    }),
  );
  await new Promise((r) => setTimeout(r, 3000)); // let the pool fill
  let next = 0;
  let failures = 0;
  const samples = [];
  let rssAfterWarmup = 0;
  const t0 = performance.now();
  await Promise.all(
    clients.map(async (client) => {
      while (next < total) {
        const i = next++;
        if (i === Math.floor(total / 4)) rssAfterWarmup = rssMb(child.pid);
        const s = performance.now();
        const r = await client
          .callTool({ name: 'run_deno_code', arguments: { deno_code: `${i} * 2` } })
          .catch(() => null);
        samples.push(performance.now() - s);
        if (!r || r.isError || r.structuredContent?.returnValue !== i * 2) failures++;
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const rssEnd = rssMb(child.pid);
  await Promise.all(clients.map((c) => c.close()));
  child.kill('SIGTERM');
  const exitCode = await exited;
  samples.sort((a, b) => a - b);
  return {
    total,
    concurrency,
    failures,
    perSecond: total / seconds,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    rssAfterWarmupMb: rssAfterWarmup,
    rssEndMb: rssEnd,
    leakedContainers: managedContainers(),
    exitCode,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { executions, concurrency } = flags({ executions: 200, concurrency: 8 });
  const r = await runLoad({ total: executions, concurrency });
  process.stdout.write(
    [
      `\nHTTP load: ${r.total} executions at concurrency ${r.concurrency} (serve, pool ${r.concurrency})`,
      '| executions/s | p50 ms | p95 ms | failures | server RSS after 1/4 → end (MB) | containers left | exit code |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      `| ${r.perSecond.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p95.toFixed(1)} | ${r.failures} | ${r.rssAfterWarmupMb.toFixed(0)} → ${r.rssEndMb.toFixed(0)} | ${r.leakedContainers} | ${r.exitCode} |`,
      '',
    ].join('\n'),
  );
}

// Throughput of trivial executions through the conductor (warm pool) at concurrency 1, 4 and 8, against bare
// `deno eval` subprocesses at the same concurrency, in one run. Usage: node scripts/bench/throughput.mjs [--executions 200]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { denoPath, flags } from './lib.mjs';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;
const { executions: total } = flags({ executions: 200 });

async function measure(concurrency, fn) {
  let next = 0;
  let failures = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        await fn().catch(() => failures++);
      }
    }),
  );
  return { perSecond: total / ((performance.now() - t0) / 1000), failures };
}

const client = new Client({ name: 'bench', version: '1' });
await client.connect(
  new StdioClientTransport({
    command: process.execPath,
    args: [join(root, 'dist/cli.js'), 'stdio'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      MCP_CONDUCTOR_LOG_LEVEL: 'warn',
      MCP_CONDUCTOR_POOL_SIZE: '8',
      MCP_CONDUCTOR_MAX_CONCURRENCY: '8',
    },
    stderr: 'inherit',
  }),
);
await new Promise((r) => setTimeout(r, 5000));
const trivial = async () => {
  const r = await client.callTool({ name: 'run_deno_code', arguments: { deno_code: '1 + 1' } });
  if (r.isError || r.structuredContent?.returnValue !== 2) throw new Error('bad result');
};
const bare = () =>
  run(denoPath, ['eval', '--no-config', 'console.log(1 + 1)'], {
    env: { NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
  });

const lines = [
  `\nThroughput, ${total} trivial executions per row (executions per second)`,
  '| concurrency | bare deno eval | conductor (pool 8) | ratio | conductor failures |',
  '|---:|---:|---:|---:|---:|',
];
for (const c of [1, 4, 8]) {
  const b = await measure(c, bare);
  const m = await measure(c, trivial);
  lines.push(
    `| ${c} | ${b.perSecond.toFixed(1)} | ${m.perSecond.toFixed(1)} | ${(m.perSecond / b.perSecond).toFixed(2)}x | ${m.failures} |`,
  );
}
await client.close();
process.stdout.write(`${lines.join('\n')}\n`);

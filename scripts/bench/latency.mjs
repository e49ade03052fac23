// Latency of a trivial execution: a bare `deno eval` subprocess (the seed's process model) against the conductor
// over real MCP stdio, measured in the same run. Usage: node scripts/bench/latency.mjs [runs]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { printTable, timeRuns } from './lib.mjs';

const run = promisify(execFile);
const require = createRequire(import.meta.url);
const deno = join(dirname(require.resolve('@deno/linux-x64-glibc/package.json')), 'deno');
const root = new URL('../..', import.meta.url).pathname;
const runs = Number(process.argv[2] ?? 30);

async function conductor(extraEnv) {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(
    new StdioClientTransport({
      command: process.execPath,
      args: [join(root, 'dist/cli.js'), 'stdio'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, MCP_CONDUCTOR_LOG_LEVEL: 'warn', ...extraEnv },
      stderr: 'inherit',
    }),
  );
  return client;
}

async function trivial(client) {
  const r = await client.callTool({ name: 'run_deno_code', arguments: { deno_code: '1 + 1' } });
  if (r.isError || r.structuredContent?.returnValue !== 2)
    throw new Error(`bad result: ${JSON.stringify(r.content)}`);
}

const rows = [];
rows.push({
  name: 'bare deno eval subprocess',
  ...(await timeRuns(runs, () =>
    run(deno, ['eval', '--no-config', 'console.log(1 + 1)'], {
      env: { NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
    }),
  )),
});
const cold = await conductor({ MCP_CONDUCTOR_POOL_SIZE: '0' });
rows.push({ name: 'conductor, cold path (pool 0)', ...(await timeRuns(runs, () => trivial(cold))) });
await cold.close();
const pooled = await conductor({ MCP_CONDUCTOR_POOL_SIZE: '2' });
await new Promise((r) => setTimeout(r, 3000)); // let the pool fill
// Sequential calls with a pause: the pool refills between calls, as it would between a model's turns.
rows.push({
  name: 'conductor, pooled (pool 2)',
  ...(await timeRuns(
    runs,
    async () => {
      await trivial(pooled);
    },
    { warmup: 2, pauseMs: 400 },
  )),
});
await pooled.close();
printTable(`Trivial execution latency (${runs} runs each)`, rows);

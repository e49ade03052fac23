// Throughput of trivial executions through the conductor (warm pool) at concurrency 1, 4 and 8, against bare
// `deno eval` subprocesses at the same concurrency, in one run. Usage: node scripts/bench/throughput.mjs [--executions 200]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connectConductor, denoPath, flags, runTrivial } from './lib.mjs';

const run = promisify(execFile);
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

const client = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '8', MCP_CONDUCTOR_MAX_CONCURRENCY: '8' });
await new Promise((r) => setTimeout(r, 5000));
const trivial = () => runTrivial(client);
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

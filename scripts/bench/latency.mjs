// Latency of a trivial execution: a bare `deno eval` subprocess (the seed's process model) against the conductor
// over real MCP stdio, measured in the same run: cold path (pool 0), and the warm pool both back to back (the pool
// refilling behind the calls) and with a pause between calls (as between a model's turns).
// Usage: node scripts/bench/latency.mjs [--runs 30]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { connectConductor, denoPath, flags, printTable, runTrivial, timeRuns } from './lib.mjs';

const run = promisify(execFile);
const { runs } = flags({ runs: 30 });

const rows = [];
rows.push({
  name: 'bare deno eval subprocess',
  ...(await timeRuns(runs, () =>
    run(denoPath, ['eval', '--no-config', 'console.log(1 + 1)'], {
      env: { NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
    }),
  )),
});
const cold = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '0' });
rows.push({ name: 'conductor, cold path (pool 0)', ...(await timeRuns(runs, () => runTrivial(cold))) });
await cold.close();
const pooled = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '2' });
await new Promise((r) => setTimeout(r, 3000)); // let the pool fill
rows.push({
  name: 'conductor, pooled (pool 2), back to back',
  ...(await timeRuns(runs, () => runTrivial(pooled))),
});
// A pause between calls lets the pool refill, as it would between a model's turns.
rows.push({
  name: 'conductor, pooled (pool 2), 400 ms apart',
  ...(await timeRuns(runs, () => runTrivial(pooled), { warmup: 2, pauseMs: 400 })),
});
await pooled.close();
printTable(`Trivial execution latency (${runs} runs each)`, rows);

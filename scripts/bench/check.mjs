// What `check: true` costs: the same small execution with and without the type check, over real MCP stdio, pooled
// (calls 400 ms apart, as between a model's turns) and on the cold path (pool 0), measured in the same run; plus the
// first check after start-up, which waits for the tenant's type checker to warm up.
// Usage: node scripts/bench/check.mjs [--runs 20]
import { connectConductor, flags, printTable, timeRuns } from './lib.mjs';

const { runs } = flags({ runs: 20 });
const code = "import { z } from 'npm:zod@^3';\nconst n: number = z.number().parse(41);\nn + 1";

async function runOnce(client, check) {
  const r = await client.callTool(
    { name: 'run_deno_code', arguments: { deno_code: code, check } },
    undefined,
    { timeout: 120_000 },
  );
  if (r.isError || r.structuredContent?.returnValue !== 42)
    throw new Error(`bad result: ${JSON.stringify(r.content)}`);
  return r.structuredContent;
}

const rows = [];
const pooled = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '2' });
await new Promise((r) => setTimeout(r, 3000)); // let the pool fill
const t0 = performance.now();
const first = await runOnce(pooled, true);
const firstMs = performance.now() - t0;
const opts = { warmup: 2, pauseMs: 400 };
rows.push({ name: 'pooled, no check', ...(await timeRuns(runs, () => runOnce(pooled, false), opts)) });
rows.push({ name: 'pooled, check: true', ...(await timeRuns(runs, () => runOnce(pooled, true), opts)) });
rows.push({ name: 'first check after start (checker warms up)', n: 1, p50: firstMs, p95: NaN });
await pooled.close();
const cold = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '0' });
await runOnce(cold, true); // the checker is warm before the timed runs
rows.push({ name: 'cold (pool 0), no check', ...(await timeRuns(runs, () => runOnce(cold, false))) });
rows.push({ name: 'cold (pool 0), check: true', ...(await timeRuns(runs, () => runOnce(cold, true))) });
await cold.close();
printTable(
  `Cost of check: true (${runs} runs each; first check's own checkMs: ${first.resources.checkMs} ms)`,
  rows,
);

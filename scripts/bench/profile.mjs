// Where the milliseconds of a trivial execution go, cold (pool 0) and pooled, from the conductor's own debug log
// lines (each lifecycle step logs its timing) and the client's clock, in one run.
// Usage: node scripts/bench/profile.mjs [--runs 20]
import { connectConductor, flags, percentile } from './lib.mjs';

const { runs } = flags({ runs: 20 });

async function profile(poolSize, pauseMs) {
  const lines = [];
  let buffered = '';
  const client = await connectConductor(
    { MCP_CONDUCTOR_LOG_LEVEL: 'debug', MCP_CONDUCTOR_POOL_SIZE: String(poolSize) },
    (d) => {
      buffered += d.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop();
      for (const p of parts) {
        try {
          lines.push(JSON.parse(p));
        } catch {
          // not a log line
        }
      }
    },
  );
  await new Promise((r) => setTimeout(r, 3000)); // let a pool fill
  const totals = new Map();
  for (let i = 0; i < runs + 2; i++) {
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    const t0 = performance.now();
    const r = await client.callTool({ name: 'run_deno_code', arguments: { deno_code: `${i} + 1` } });
    const total = performance.now() - t0;
    if (r.isError) throw new Error(`run failed: ${JSON.stringify(r.content)}`);
    if (i >= 2) totals.set(i, total); // two warm-up runs
  }
  await new Promise((r) => setTimeout(r, 1500)); // let the last removals log
  await client.close();

  // Group step timings by execution, in the order executions were answered.
  const byExecution = new Map();
  for (const l of lines) {
    if (!l.executionId || !l.step) continue;
    const e = byExecution.get(l.executionId) ?? {};
    e[l.step] = l;
    byExecution.set(l.executionId, e);
  }
  const answered = [...byExecution.values()].filter((e) => e.result).slice(2);
  const median = (xs) =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  const total = median([...totals.values()]);
  const acquire = median(answered.map((e) => e.acquire.ms));
  const run = median(answered.map((e) => e.result.ms));
  const taken = answered.filter((e) => e.acquire.waiting).length;
  const prep = answered.filter((e) => e.ready);
  return {
    total,
    acquire,
    run,
    rest: total - acquire - run,
    create: median(prep.map((e) => e.create.ms)),
    start: median(prep.map((e) => e.start.ms - e.create.ms)),
    ready: median(prep.map((e) => e.ready.ms - e.start.ms)),
    remove: median(answered.filter((e) => e.remove).map((e) => e.remove.ms)),
    waiting: `${taken}/${answered.length}`,
  };
}

const cold = await profile(0, 0);
const pooled = await profile(2, 400);
const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
const rows = [
  ['client round trip (total)', cold.total, pooled.total],
  ['  getting a sandbox (acquire)', cold.acquire, pooled.acquire],
  ['    of which: create container (cold only)', cold.create, pooled.create],
  ['    of which: start container', cold.start, pooled.start],
  ['    of which: Deno up and connected to its socket', cold.ready, pooled.ready],
  ['  deliver code → result → output settled (run)', cold.run, pooled.run],
  ['  MCP framing, wrap, validation, answer (rest)', cold.rest, pooled.rest],
  ['off the caller’s path: kill + remove', cold.remove, pooled.remove],
];
process.stdout.write(
  [
    `\nWhere the milliseconds go: medians of ${runs} trivial executions (pooled: calls 400 ms apart)`,
    '| step | cold (pool 0) ms | pooled ms |',
    '|---|---:|---:|',
    ...rows.map(([name, c, p]) => `| ${name} | ${fmt(c)} | ${fmt(p)} |`),
    `| sandboxes already waiting when asked | ${cold.waiting} | ${pooled.waiting} |`,
    '',
  ].join('\n'),
);

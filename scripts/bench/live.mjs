// Live runs: how fast a cancellation frees the container (against the removal after a normal answer, measured in
// the same run), and what streaming output as log notifications costs a 10,000-line run (against the same run
// with logging off). Usage: node scripts/bench/live.mjs [--runs 10]
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { createDockerClient, LABEL_EXECUTION } from '../../dist/docker/index.js';
import { connectConductor, flags, percentile, printTable } from './lib.mjs';

const { runs } = flags({ runs: 10 });
const docker = createDockerClient();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
}

/** Milliseconds from `t0` until the engine lists no container of this execution. */
async function goneAfter(executionId, t0) {
  while ((await docker.listManaged({ [LABEL_EXECUTION]: executionId })).length > 0) await sleep(5);
  return performance.now() - t0;
}

async function until(check) {
  while (!check()) await sleep(2);
}

const dir = await mkdtemp(join(tmpdir(), 'mcpc-bench-live-'));
const policy = async (name, limits) => {
  const path = join(dir, `${name}.json`);
  await writeFile(path, JSON.stringify({ limits }));
  return path;
};

// 1. Cancel → container gone, against answer → container gone.
{
  const client = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '2' });
  const lines = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => lines.push(n.params.data));
  const started = (line) => lines.find((d) => d.line === line)?.executionId;
  const answered = [];
  const cancelled = [];
  for (let i = 0; i < runs + 1; i++) {
    const done = await client.callTool({
      name: 'run_deno_code',
      arguments: { deno_code: `console.log('done ${i}'); 1` },
    });
    const t0 = performance.now();
    if (done.isError) throw new Error('bad result');
    const id = started(`done ${i}`);
    const ms = await goneAfter(id, t0);
    if (i > 0) answered.push(ms);

    const stop = new AbortController();
    const pending = client
      .callTool(
        {
          name: 'run_deno_code',
          arguments: {
            deno_code: `console.log('up ${i}'); await new Promise(() => setInterval(() => {}, 1000));`,
          },
        },
        undefined,
        { signal: stop.signal },
      )
      .catch(() => undefined);
    await until(() => started(`up ${i}`));
    const t1 = performance.now();
    stop.abort('bench');
    const gone = await goneAfter(started(`up ${i}`), t1);
    await pending;
    if (i > 0) cancelled.push(gone);
    await sleep(300); // let the pool refill, as between a model's turns
  }
  await client.close();
  printTable('Freeing the container (ms until the engine lists it no more)', [
    { name: 'answered run: answer → gone', ...summary(answered) },
    { name: 'cancelled run: notifications/cancelled → gone', ...summary(cancelled) },
  ]);
}

// 2. A 10,000-line run, with its lines streamed or not. Output kept up to 1 MiB so every line is in the result.
{
  const code = `for (let i = 0; i < 10000; i++) console.log('line ' + i); 1`;
  const cases = [];
  for (const [name, maxStreamedLines, level] of [
    ['logging off (setLevel error)', 10000, 'error'],
    ['1,000 lines streamed (the default cap)', 1000, 'info'],
    ['all 10,000 lines streamed', 10000, 'info'],
  ]) {
    const path = await policy(`lines-${maxStreamedLines}`, { maxOutputBytes: 1024 * 1024, maxStreamedLines });
    const client = await connectConductor({ MCP_CONDUCTOR_POLICY: path, MCP_CONDUCTOR_POOL_SIZE: '2' });
    let received = 0;
    client.setNotificationHandler(LoggingMessageNotificationSchema, () => void received++);
    await client.setLoggingLevel(level);
    const samples = [];
    for (let i = 0; i < runs + 1; i++) {
      received = 0;
      const t0 = performance.now();
      const r = await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } });
      if (r.isError || !r.structuredContent.stdout.includes('line 9999')) throw new Error('bad result');
      if (i > 0) samples.push(performance.now() - t0);
      await sleep(300);
    }
    const expected = level === 'error' ? 0 : maxStreamedLines + (maxStreamedLines < 10000 ? 1 : 0);
    if (received !== expected) throw new Error(`${name}: ${received} notifications, expected ${expected}`);
    cases.push({ name: `${name}: ${received} notifications`, ...summary(samples) });
    await client.close();
  }
  printTable('A 10,000-line run, client round trip', cases);
}

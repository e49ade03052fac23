// Shared helpers for the benchmark scripts: percentiles, the host's Deno binary, flags, and a table with ratios to a
// baseline measured in the same run.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { locateDenoBinary } from '../../dist/image/deno-binary.js';

/** The Deno the image is built from, for the host's own architecture (the bare-subprocess baseline). */
export const denoPath = locateDenoBinary(process.arch === 'x64' ? 'x86_64' : process.arch).path;

/** Whole-number flags with defaults, e.g. flags({ runs: 30 }) reads `--runs 50`; anything else is an error. */
export function flags(defaults) {
  const { values } = parseArgs({
    options: Object.fromEntries(Object.keys(defaults).map((k) => [k, { type: 'string' }])),
    strict: true,
  });
  return Object.fromEntries(
    Object.entries(defaults).map(([k, d]) => {
      const n = values[k] === undefined ? d : Number(values[k]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--${k} must be a positive whole number`);
      return [k, n];
    }),
  );
}
/** A loopback port nothing listens on right now. */
export const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export async function timeRuns(n, fn, { warmup = 2, pauseMs = 0 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const samples = [];
  for (let i = 0; i < n; i++) {
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { n, p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

/** rows: [{ name, p50, p95, extra? }]; the first row is the baseline. */
export function printTable(title, rows) {
  const base = rows[0];
  const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
  const lines = [
    `\n${title}`,
    `| case | n | p50 ms | p95 ms | p50 ratio to ${base.name} |`,
    '|---|---:|---:|---:|---:|',
    ...rows.map(
      (r) => `| ${r.name} | ${r.n ?? ''} | ${fmt(r.p50)} | ${fmt(r.p95)} | ${fmt(r.p50 / base.p50)}x |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const root = new URL('../..', import.meta.url).pathname;

/**
 * The built conductor over real MCP stdio, with `env` on top of a minimal environment. Its stderr goes to ours, or,
 * given `onStderr`, to that function chunk by chunk.
 */
export async function connectConductor(env = {}, onStderr) {
  const client = new Client({ name: 'bench', version: '1' });
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(root, 'dist/cli.js'), 'stdio'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, MCP_CONDUCTOR_LOG_LEVEL: 'warn', ...env },
    stderr: onStderr ? 'pipe' : 'inherit',
  });
  if (onStderr) transport.stderr.on('data', onStderr);
  await client.connect(transport);
  return client;
}

/** One trivial execution; throws unless it returned the right value. */
export async function runTrivial(client, n = 1) {
  const r = await client.callTool({ name: 'run_deno_code', arguments: { deno_code: `${n} + 1` } });
  if (r.isError || r.structuredContent?.returnValue !== n + 1)
    throw new Error(`bad result: ${JSON.stringify(r.content)}`);
}

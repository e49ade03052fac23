// Shared helpers for the benchmark scripts: percentiles and a table with ratios to a baseline from the same run.
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

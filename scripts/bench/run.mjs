// `make bench`: every benchmark, one after the other, each printing its own table.
import { spawnSync } from 'node:child_process';

const scripts = ['latency.mjs', 'throughput.mjs', 'mcp-call.mjs', 'load-http.mjs'];
for (const s of scripts) {
  const r = spawnSync(process.execPath, [new URL(s, import.meta.url).pathname, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

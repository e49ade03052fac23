// `make bench`: every benchmark with its defaults, one after the other, each printing its own table. Run one script
// alone to change its flags (each says its usage in its first lines).
import { spawnSync } from 'node:child_process';

const scripts = [
  'latency.mjs',
  'profile.mjs',
  'throughput.mjs',
  'mcp-call.mjs',
  'check.mjs',
  'egress.mjs',
  'tracing.mjs',
  'load-http.mjs',
  'live.mjs',
];
for (const s of scripts) {
  const r = spawnSync(process.execPath, [new URL(s, import.meta.url).pathname], {
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

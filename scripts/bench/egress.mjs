// A fetch through the egress gateway from the sandbox against the same fetch by Deno on the host, to the same
// loopback HTTPS server, measured in the same run: a small JSON answer and a 1 MiB body.
// Usage: node scripts/bench/egress.mjs [--requests 200]
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates, startTarget } from '../../test/fixtures/https-target.mjs';
import { connectConductor, denoPath, flags, percentile, printTable } from './lib.mjs';

const { requests } = flags({ requests: 200 });
const WARMUP = 10;
const cases = [
  { name: 'GET /echo (small JSON)', path: '/echo' },
  { name: 'GET 1 MiB body', path: `/bytes?n=${1024 * 1024}` },
];
const summary = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95) };
};

const certs = makeCertificates();
const target = await startTarget({ certs });
const base = `https://127.0.0.1:${target.port}`;
const dir = mkdtempSync(join(tmpdir(), 'bench-egress-'));
/** The same loop on both sides: sequential fetches, each body read to the end, per-request milliseconds. */
const loop = (path) => `
const url = '${base}${path}';
for (let i = 0; i < ${WARMUP}; i++) await (await fetch(url)).arrayBuffer();
const samples = [];
for (let i = 0; i < ${requests}; i++) {
  const t0 = performance.now();
  await (await fetch(url)).arrayBuffer();
  samples.push(performance.now() - t0);
}`;

try {
  // Asynchronously: the target server runs in this process and must keep answering.
  const host = [];
  for (const [i, c] of cases.entries()) {
    const script = join(dir, `host-${i}.ts`);
    writeFileSync(script, `${loop(c.path)}\nconsole.log(JSON.stringify(samples));\n`);
    const { stdout } = await promisify(execFile)(
      denoPath,
      ['run', '--quiet', `--allow-net=127.0.0.1:${target.port}`, '--cert', certs.caFile, script],
      { env: { PATH: process.env.PATH, DENO_DIR: join(dir, 'deno-dir') } },
    );
    host.push(summary(JSON.parse(stdout)));
  }

  const policy = join(dir, 'egress.json');
  writeFileSync(
    policy,
    JSON.stringify({
      egress: {
        allow: [`127.0.0.1:${target.port}`],
        caFile: certs.caFile,
        maxRequests: (requests + WARMUP) * 2,
        maxResponseBytes: 2 * 1024 * 1024,
      },
      limits: { defaultTimeoutMs: 120_000 },
    }),
  );
  const conductor = await connectConductor({ MCP_CONDUCTOR_POLICY: policy });
  const sandbox = [];
  for (const c of cases) {
    const r = await conductor.callTool({
      name: 'run_deno_code',
      arguments: { deno_code: `${loop(c.path)}\nreturn samples;`, timeout: 120_000 },
    });
    if (r.isError) throw new Error(JSON.stringify(r.content));
    sandbox.push(summary(r.structuredContent.returnValue));
  }
  await conductor.close();

  cases.forEach((c, i) =>
    printTable(`egress, ${c.name}: ${requests} sequential fetches to a loopback HTTPS server`, [
      { name: 'Deno fetch on the host', ...host[i] },
      { name: 'fetch from the sandbox via the gateway', ...sandbox[i] },
    ]),
  );
} finally {
  await target.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(certs.dir, { recursive: true, force: true });
}

// The cost of tracing on a pooled trivial run: two conductors over real MCP stdio in the same run, one without an
// OTLP endpoint (nothing loaded) and one exporting every execution's spans to a loopback OTLP/HTTP receiver in this
// process; calls alternate between them (the order flipping each round) with a pause that lets each pool refill.
// Usage: node scripts/bench/tracing.mjs [--runs 40] [--pause 400]
import { createServer } from 'node:http';
import { connectConductor, flags, percentile, printTable, runTrivial } from './lib.mjs';

const { runs, pause } = flags({ runs: 40, pause: 400 });
const WARMUP = 3;

let exports = 0;
let bytes = 0;
const receiver = createServer((req, res) => {
  req.on('data', (c) => (bytes += c.length));
  req.on('end', () => {
    exports++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
  });
});
await new Promise((r) => receiver.listen(0, '127.0.0.1', r));
const endpoint = `http://127.0.0.1:${receiver.address().port}`;

const off = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '2' });
const on = await connectConductor({ MCP_CONDUCTOR_POOL_SIZE: '2', OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
const samples = { off: [], on: [] };
try {
  await new Promise((r) => setTimeout(r, 3000)); // let both pools fill
  for (let i = 0; i < WARMUP + runs; i++) {
    const order = i % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const which of order) {
      await new Promise((r) => setTimeout(r, pause));
      const t0 = performance.now();
      await runTrivial(which === 'on' ? on : off, i);
      if (i >= WARMUP) samples[which].push(performance.now() - t0);
    }
  }
} finally {
  await off.close();
  await on.close(); // exports what the batch still holds
  receiver.close();
}
const row = (name, s) => {
  const sorted = [...s].sort((a, b) => a - b);
  return { name, n: sorted.length, p50: percentile(sorted, 50), p95: percentile(sorted, 95) };
};
printTable(`tracing overhead: pooled trivial run, ${runs} alternating calls each, ${pause} ms apart`, [
  row('tracing off (no endpoint)', samples.off),
  row('tracing on (OTLP/HTTP protobuf to loopback)', samples.on),
]);
process.stdout.write(`receiver: ${exports} export request(s), ${bytes} bytes\n`);
if (exports === 0) throw new Error('tracing was on but no spans arrived');

// Per-call overhead of mcpFactory.callTool from inside the sandbox against a direct SDK client call to the same
// upstream (server-everything's echo over stdio), measured in the same run. Usage: node scripts/bench/mcp-call.mjs [calls]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectConductor, percentile, printTable } from './lib.mjs';

const root = new URL('../..', import.meta.url).pathname;
// 20 warm-up calls + these stay within the default policy cap of 200 calls per execution.
const calls = Math.min(170, Number(process.argv[2] ?? 150));
const everything = join(root, 'node_modules/@modelcontextprotocol/server-everything/dist/index.js');
const summary = (samples) => {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p95: percentile(s, 95) };
};

// Direct: the SDK client the conductor itself would use, no sandbox in between.
const direct = new Client({ name: 'bench', version: '1' });
await direct.connect(
  new StdioClientTransport({ command: process.execPath, args: [everything, 'stdio'], stderr: 'ignore' }),
);
for (let i = 0; i < 20; i++) await direct.callTool({ name: 'echo', arguments: { message: 'warm' } });
const directSamples = [];
for (let i = 0; i < calls; i++) {
  const t0 = performance.now();
  await direct.callTool({ name: 'echo', arguments: { message: `m${i}` } });
  directSamples.push(performance.now() - t0);
}
await direct.close();

// Through the sandbox: one execution times each call from inside and returns only the samples.
const dir = mkdtempSync(join(tmpdir(), 'bench-mcp-'));
const config = join(dir, 'mcp.json');
writeFileSync(
  config,
  JSON.stringify({ mcpServers: { everything: { command: process.execPath, args: [everything, 'stdio'] } } }),
);
const conductor = await connectConductor({ MCP_CONDUCTOR_MCP_CONFIG: config });
const code = `
const s = await mcpFactory.load('everything');
for (let i = 0; i < 20; i++) await s.callTool('echo', { message: 'warm' });
const samples = [];
for (let i = 0; i < ${calls}; i++) { const t0 = performance.now(); await s.callTool('echo', { message: 'm' + i }); samples.push(performance.now() - t0); }
return samples;`;
const r = await conductor.callTool({
  name: 'run_deno_code',
  arguments: { deno_code: code, timeout: 120000 },
});
if (r.isError) throw new Error(JSON.stringify(r.content));
await conductor.close();

const d = summary(directSamples);
const s = summary(r.structuredContent.returnValue);
printTable(`MCP tools/call latency, ${calls} sequential echo calls (the same upstream)`, [
  { name: 'direct SDK client', ...d },
  { name: 'mcpFactory.callTool from the sandbox', ...s },
]);
process.stdout.write(`p50 overhead of the tunnel: ${(s.p50 - d.p50).toFixed(2)} ms (target: within 2 ms)\n`);

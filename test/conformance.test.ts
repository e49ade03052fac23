/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, a devDependency) against a real `serve`,
 * for the scenarios that apply to this server. The suite needs Node 22: the set-up fetches the npm package
 * `node@22` (which installs the platform's Node binary from the npm registry) into node_modules/.cache once.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, repoRoot, startHttpServer, mcpPackage } from './helpers.js';

const run = promisify(execFile);
const docker = inject('docker');

const NODE_22 = 'node@22.23.3';
const cacheDir = join(repoRoot, 'node_modules', '.cache', 'node22');
const node22 = join(cacheDir, 'node_modules', 'node', 'bin', 'node');
const suite = mcpPackage('conformance');

const SCENARIOS = [
  'server-initialize',
  'ping',
  'tools-list',
  'tools-call-error',
  'server-sse-multiple-streams',
  'logging-set-level',
  'dns-rebinding-protection',
];

/** The `node` package picks the platform's binary in a preinstall script, which npm runs only where allowed. */
async function ensureNode22(): Promise<void> {
  if (existsSync(node22)) return;
  await mkdir(cacheDir, { recursive: true });
  await writeFile(
    join(cacheDir, 'package.json'),
    JSON.stringify({ private: true, allowScripts: { node: true } }),
  );
  await run('npm', ['install', '--no-audit', '--no-fund', NODE_22], { cwd: cacheDir, timeout: 300_000 });
}

type Check = { id: string; status: string; errorMessage?: string };

describe.skipIf(!docker)('MCP conformance suite against serve', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let outDir: string;

  beforeAll(async () => {
    await ensureNode22();
    outDir = await mkdtemp(join(tmpdir(), 'mcpc-conformance-'));
    server = await startHttpServer({ MCP_CONDUCTOR_POOL_SIZE: '0' });
  });
  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it.each(SCENARIOS)('passes %s', async (scenario) => {
    const out = join(outDir, scenario);
    // localhost, not 127.0.0.1: dns-rebinding-protection runs only against a localhost URL.
    const url = `http://localhost:${server.port}/mcp`;
    await run(node22, [suite, 'server', '--url', url, '--scenario', scenario, '-o', out], {
      timeout: 60_000,
    });
    const [results] = await readdir(out);
    const checks = JSON.parse(await readFile(join(out, results!, 'checks.json'), 'utf8')) as Check[];
    expect(checks.length).toBeGreaterThan(0);
    expect(checks.filter((c) => c.status !== 'SUCCESS')).toEqual([]);
  });
});

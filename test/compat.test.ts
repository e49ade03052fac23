// The original MCP Conductor's configs, as a migrating user brings them: its RUN_ARGS format and environment names,
// and an mcp.json as clients write it (type/transport, disabled, one broken entry), with an SSE upstream.
import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  baseEnv,
  cliPath,
  expectNoLeftovers,
  freePort,
  killProcess,
  startConductor,
  startHttpMcpServer,
  TRANSPORTS,
  type Conductor,
  mcpPackage,
} from './helpers.js';

const docker = inject('docker');
const exec = promisify(execFile);
const everything = mcpPackage('server-everything');

let sse: ChildProcess | undefined;
let env: Record<string, string>;

beforeAll(async () => {
  if (!docker) return;
  const port = await freePort();
  sse = await startHttpMcpServer(port, [everything, 'sse']);
  const dir = await mkdtemp(join(tmpdir(), 'mcpc-compat-'));
  const config = join(dir, 'mcp.json');
  await writeFile(
    config,
    JSON.stringify({
      mcpServers: {
        'everything-sse': { type: 'sse', url: `http://127.0.0.1:${port}/sse` },
        'legacy-sse': { transport: 'sse', url: `http://127.0.0.1:${port}/sse`, disabled: false },
        broken: { comand: 'npx', args: ['-y', 'some-server'] },
        off: { command: 'mcp-server-that-is-not-installed', disabled: true },
      },
    }),
  );
  env = {
    // The original's names for both: mcp.json's path, and RUN_ARGS in its `;` format.
    MCP_CONDUCTOR_PROXY_CONFIG: config,
    MCP_CONDUCTOR_RUN_ARGS: '--allow-read=/workspace;--allow-net',
    MCP_CONDUCTOR_POOL_SIZE: '0',
  };
});

afterAll(async () => {
  if (sse) await killProcess(sse);
  if (docker) await expectNoLeftovers();
});

describe.skipIf(!docker).each(TRANSPORTS)("the original project's configs over %s", (transport) => {
  let c: Conductor;
  beforeAll(async () => {
    c = await startConductor(transport, env);
  });
  afterAll(async () => {
    await c?.close();
  });

  it('calls server-everything over SSE from sandbox code; the broken and the disabled entries are not there', async () => {
    const r = await c.run(`
const names = await mcpFactory.list();
const sse = await mcpFactory.load('everything-sse');
const legacy = await mcpFactory.load('legacy-sse');
let broken = '';
try { await mcpFactory.load('broken'); } catch (e) { broken = e.message; }
return {
  names,
  echo: await sse.callTool('echo', { message: 'over sse' }),
  sum: await legacy.callTool('get-sum', { a: 2, b: 3 }),
  broken,
};`);
    expect(r.result.error).toBeUndefined();
    expect(r.result.returnValue).toEqual({
      names: ['everything-sse', 'legacy-sse'],
      echo: 'Echo: over sse',
      sum: expect.stringContaining('5') as string,
      broken: expect.stringContaining('broken') as string,
    });
  });

  it('grants what the seed format would for RUN_ARGS in the original format', async () => {
    const r = await c.run(`
const granted = async (d) => (await Deno.permissions.query(d)).state === 'granted';
return {
  workspace: await granted({ name: 'read', path: '/workspace' }),
  etc: await granted({ name: 'read', path: '/etc' }),
  net: await granted({ name: 'net', host: 'example.com' }),
  write: await granted({ name: 'write', path: '/workspace' }),
};`);
    // Misread, the line granted read of a path named "/workspace;--allow-net" and no network.
    expect(r.result.returnValue).toEqual({ workspace: true, etc: false, net: true, write: false });
  });

  it('says on stderr, one line each, how it read the legacy names and which entries it skipped', () => {
    const lines = c.stderr().split('\n');
    const one = (text: string) => expect(lines.filter((l) => l.includes(text))).toHaveLength(1);
    one('MCP_CONDUCTOR_PROXY_CONFIG (the original MCP Conductor');
    one('it grants the same as MCP_CONDUCTOR_RUN_ARGS=allow-read=/workspace,allow-net');
    one('server \\"off\\" is disabled');
    one('server \\"broken\\" is off (its entry is invalid; the other servers still work): mcpServers.broken');
  });
});

describe.skipIf(!docker)("doctor with the original project's configs", () => {
  it('fails the broken entry by name, skips the disabled one, and reaches the SSE server', async () => {
    const r = await exec(process.execPath, [cliPath, 'doctor'], { env: await baseEnv(env) }).then(
      (o) => ({ code: 0, stdout: o.stdout }),
      (e: { code?: number; stdout?: string }) => ({ code: e.code ?? 1, stdout: e.stdout ?? '' }),
    );
    expect(r.code).not.toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^FAIL upstream +server "broken" is off \(its entry is invalid; the other servers still work\): mcpServers\.broken: a server needs "command".*did you mean "command"/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^WARN mcp config +2 upstream server\(s\): everything-sse, legacy-sse; server "off" is disabled/,
      ),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^ok {3}upstream +"everything-sse" answers: \d+ tool\(s\) \(at http:\/\/127\.0\.0\.1:\d+, over SSE\)/,
      ),
    );
    expect(lines.filter((l) => l.startsWith('FAIL'))).toHaveLength(1);
  });
});

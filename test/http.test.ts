import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { request } from 'node:http';
import { promisify } from 'node:util';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import type { AuditRecord } from '../src/obs/index.js';
import { cliPath, expectNoLeftovers, fixturePolicy, startHttpServer, mcpPackage } from './helpers.js';

const docker = inject('docker');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function connect(url: string, token: string | undefined) {
  const client = new Client({ name: 'http-test', version: '1' });
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  const call = async (code: string, timeout?: number) =>
    (await client.callTool({
      name: 'run_deno_code',
      arguments: { deno_code: code, ...(timeout ? { timeout } : {}) },
    })) as CallToolResult;
  const run = async (code: string, timeout?: number) =>
    (await call(code, timeout)).structuredContent as ExecutionResult;
  const text = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  /** Ends the session on the server too (DELETE), freeing its place. */
  const end = async () => {
    await transport.terminateSession().catch(() => undefined);
    await client.close();
  };
  return { client, transport, call, run, text, end };
}

/** A raw request, since fetch cannot set Host: a rebinding attack arrives with the attacker's name in it. */
function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) =>
    request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    })
      .on('error', reject)
      .end(),
  );
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

function metricValue(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe.skipIf(!docker)('serve: multi-tenant Streamable HTTP', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let workspace: string;
  let audit: string;
  const appOrigin = 'https://app.example';

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-http-'));
    workspace = join(dir, 'ws');
    audit = join(dir, 'audit.jsonl');
    const tenants = join(dir, 'tenants.json');
    const mcpConfig = join(dir, 'mcp.json');
    await writeFile(
      mcpConfig,
      JSON.stringify({
        mcpServers: {
          everything: { command: process.execPath, args: [mcpPackage('server-everything'), 'stdio'] },
          memory: {
            command: process.execPath,
            args: [mcpPackage('server-memory')],
            // one file per tenant, so the per-tenant processes do not share state through the disk either
            env: { MEMORY_FILE_PATH: join(dir, 'memory-${MCP_CONDUCTOR_TENANT}.jsonl') },
          },
        },
      }),
    );
    const tenant = (id: string, extra: Record<string, unknown>) => ({
      id,
      tokenSha256: sha(`${id}-token`),
      policy: fixturePolicy('small'),
      ...extra,
    });
    await writeFile(
      tenants,
      JSON.stringify({
        tenants: [
          tenant('acme', { servers: ['everything'], maxConcurrent: 1, maxQueued: 1 }),
          tenant('globex', { servers: ['memory'], maxConcurrent: 2 }),
          tenant('initech', { servers: ['memory'], maxSessions: 2 }),
        ],
      }),
    );
    server = await startHttpServer(
      {
        MCP_CONDUCTOR_TENANTS: tenants,
        MCP_CONDUCTOR_MCP_CONFIG: mcpConfig,
        MCP_CONDUCTOR_WORKSPACE: workspace,
        MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,allow-write=/workspace',
        MCP_CONDUCTOR_POOL_SIZE: '1',
      },
      ['--audit-log', audit, '--grace', '20s', '--allowed-origin', appOrigin],
    );
  });

  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it('answers health, readiness and metrics without a token; probes answer any Host', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await metricsText(server.url);
    expect(metrics).toContain('mcp_conductor_active_executions');
    // a load balancer probing by IP address
    expect((await rawGet(server.port, '/healthz', '10.1.2.3:8787')).status).toBe(200);
    expect(await rawGet(server.port, '/readyz', '10.1.2.3:8787')).toEqual({
      status: 200,
      body: '{"status":"ready"}',
    });
    expect((await rawGet(server.port, '/metrics', '10.1.2.3:8787')).status).toBe(403);
  });

  it('refuses a missing or wrong token with 401 and WWW-Authenticate', async () => {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' });
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const none = await fetch(`${server.url}/mcp`, { method: 'POST', body, headers });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    const wrong = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      body,
      headers: { ...headers, authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
    await expect(connect(server.url, 'nope')).rejects.toThrow();
  });

  it('refuses a foreign Origin and a foreign Host (DNS rebinding)', async () => {
    const evil = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', authorization: 'Bearer acme-token' },
    });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const nullOrigin = await fetch(`${server.url}/healthz`, { headers: { origin: 'null' } });
    expect(nullOrigin.status).toBe(403);
    expect((await rawGet(server.port, '/mcp', 'attacker.example')).status).toBe(403);
    expect((await rawGet(server.port, '/metrics', 'attacker.example')).status).toBe(403);
    const text = await evil.text();
    expect(text).not.toMatch(/\/tmp\/|at .*\.js/);
  });

  it('answers CORS for the configured origin: preflight without a token, headers on the response', async () => {
    const preflight = await fetch(`${server.url}/mcp`, {
      method: 'OPTIONS',
      headers: {
        origin: appOrigin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type, mcp-session-id',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');

    const init = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        origin: appOrigin,
        authorization: 'Bearer acme-token',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'browser', version: '1' },
        },
      }),
    });
    expect(init.status).toBe(200);
    expect(init.headers.get('access-control-allow-origin')).toBe(appOrigin);
    expect(init.headers.get('access-control-expose-headers')?.toLowerCase()).toContain('mcp-session-id');
    const sessionId = init.headers.get('mcp-session-id')!;
    await init.text();
    const del = await fetch(`${server.url}/mcp`, {
      method: 'DELETE',
      headers: { origin: appOrigin, authorization: 'Bearer acme-token', 'mcp-session-id': sessionId },
    });
    expect(del.status).toBe(200);

    const foreign = await fetch(`${server.url}/mcp`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('caps request bodies', async () => {
    const big = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { authorization: 'Bearer acme-token', 'content-type': 'application/json' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'ping',
        params: { pad: 'x'.repeat(5 * 1024 * 1024) },
      }),
    });
    expect(big.status).toBe(413);
  });

  it('keeps tenants apart: workspaces, and sessions bound to their tenant', async () => {
    const acme = await connect(server.url, 'acme-token');
    const globex = await connect(server.url, 'globex-token');
    expect(
      (await acme.run("await Deno.writeTextFile('/workspace/secret.txt', 'acme only'); 'ok'")).returnValue,
    ).toBe('ok');
    const peek = await globex.run("await Deno.readTextFile('/workspace/secret.txt')");
    expect(peek.status).toBe('error');
    expect(peek.error?.name).toBe('NotFound');
    expect(await readFile(join(workspace, 'acme', 'secret.txt'), 'utf8')).toBe('acme only');

    // globex presents acme's session id with its own token
    const sessionId = acme.transport.sessionId!;
    const hijack = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer globex-token',
        'mcp-session-id': sessionId,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/list' }),
    });
    expect(hijack.status).toBe(403);
    await acme.end();
    await globex.end();
  });

  it('gives each tenant only its own upstream servers, and its own instances of them', async () => {
    const acme = await connect(server.url, 'acme-token');
    const globex = await connect(server.url, 'globex-token');
    const initech = await connect(server.url, 'initech-token');

    const a = await acme.run(`
const s = await mcpFactory.load('everything');
const echo = await s.callTool('echo', { message: 'hi' });
let denied = '';
try { await mcpFactory.load('memory'); } catch (e) { denied = e.message; }
({ names: await mcpFactory.list(), echo, denied })`);
    expect(a.error).toBeUndefined();
    expect(a.returnValue).toEqual({
      names: ['everything'],
      echo: 'Echo: hi',
      denied: expect.stringMatching(/"memory" is not allowed/) as string,
    });
    const listed = await globex.client.callTool({ name: 'list_mcp_servers', arguments: {} });
    expect(globex.text(listed as CallToolResult)).toBe('memory');

    const remember = await globex.run(`
const mem = await mcpFactory.load('memory');
await mem.callTool('create_entities', { entities: [{ name: 'globex-plan', entityType: 'secret', observations: ['x'] }] });
(await mem.callTool('read_graph', {})).entities.map((e) => e.name)`);
    expect(remember.error).toBeUndefined();
    expect(remember.returnValue).toEqual(['globex-plan']);
    const other = await initech.run(`
const mem = await mcpFactory.load('memory');
(await mem.callTool('read_graph', {})).entities.map((e) => e.name)`);
    expect(other.error).toBeUndefined();
    expect(other.returnValue).toEqual([]);
    await Promise.all([acme.end(), globex.end(), initech.end()]);
  });

  it('queues a tenant over its concurrency cap, then refuses with a clear message', async () => {
    const acme = await connect(server.url, 'acme-token');
    const slow = 'await new Promise((r) => setTimeout(r, 1500)); 1';
    const pending = Promise.all([acme.call(slow), acme.call(slow), acme.call(slow)]);
    await sleep(700);
    expect(metricValue(await metricsText(server.url), 'mcp_conductor_active_executions')).toBe(1);
    const results = await pending;
    expect(
      results.filter((r) => (r.structuredContent as ExecutionResult)?.status === 'success'),
    ).toHaveLength(2);
    const refused = results.filter((r) => r.structuredContent === undefined);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.isError).toBe(true);
    expect(acme.text(refused[0]!)).toMatch(/Too many executions for tenant acme: 1 running and 1 queued/);
    expect((await acme.call('1')).isError).toBeFalsy();
    expect(metricValue(await metricsText(server.url), 'mcp_conductor_active_executions')).toBe(0);
    await acme.end();
  });

  it("makes room at a tenant's session cap by closing its least recently used idle session, never a busy one", async () => {
    // One-shot clients leave without DELETE; initech's cap is 2.
    const first = await connect(server.url, 'initech-token');
    const second = await connect(server.url, 'initech-token');
    // first is the least recently used (its call started before second's ping) but has a call running.
    const slow = first.run('await new Promise((r) => setTimeout(r, 4000)); "first done"');
    await sleep(300);
    await second.client.ping();
    const third = await connect(server.url, 'initech-token');
    // second was the least recently used idle one: closed, its id now 404s; first's call goes on.
    await expect(second.client.ping()).rejects.toThrow(/unknown or expired session/);
    expect((await third.client.listTools()).tools.length).toBeGreaterThan(0);

    // Both sessions busy: nothing may be closed, so a new one is refused; the other tenants are not affected.
    const slowToo = third.run('await new Promise((r) => setTimeout(r, 2000)); "third done"');
    await sleep(300);
    const refused = await connect(server.url, 'initech-token').catch((e: unknown) => e as Error);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(
      /initech has 2 open sessions, its limit, each with a request in progress/,
    );
    const other = await connect(server.url, 'acme-token');
    expect((await other.client.listTools()).tools.length).toBeGreaterThan(0);
    expect((await slow).returnValue).toBe('first done');
    expect((await slowToo).returnValue).toBe('third done');

    // Idle again: a new session closes the least recently used one (third was just used).
    await third.client.ping();
    const fourth = await connect(server.url, 'initech-token');
    await expect(first.client.ping()).rejects.toThrow(/unknown or expired session/);
    await third.client.ping();
    await fourth.client.ping();
    await Promise.all([first.end(), second.end(), third.end(), fourth.end(), other.end()]);
  });

  it('counts executions and MCP calls in metrics, and audits every call with its id and resources', async () => {
    const metrics = await metricsText(server.url);
    expect(
      metricValue(metrics, 'mcp_conductor_executions_total', '{tenant="acme",status="success"}'),
    ).toBeGreaterThan(3);
    expect(metricValue(metrics, 'mcp_conductor_executions_total', '{tenant="acme",status="rejected"}')).toBe(
      1,
    );
    expect(metrics).toContain('mcp_conductor_execution_duration_seconds_bucket');
    expect(
      metricValue(metrics, 'mcp_conductor_mcp_calls_total', '{server="everything",status="ok"}'),
    ).toBeGreaterThanOrEqual(2);
    // acme may not use memory: its refused load is counted, but the name is not acme's to add as a label.
    expect(metricValue(metrics, 'mcp_conductor_mcp_calls_total', '{server="unknown",status="denied"}')).toBe(
      1,
    );
    expect(metrics).not.toContain('server="memory",status="denied"');
    expect(
      metricValue(metrics, 'mcp_conductor_mcp_calls_total', '{server="memory",status="ok"}'),
    ).toBeGreaterThanOrEqual(4);
    expect(metricValue(metrics, 'mcp_conductor_open_sessions')).toBe(0);

    const lines = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    expect(lines.length).toBeGreaterThan(8);
    expect(lines[0]).toMatchObject({
      tenant: 'acme',
      status: 'success',
      resources: { exitReason: 'completed' },
    });
    // A process that did not exit on its own has no exit code: omitted, not null.
    expect(lines[0]!.resources).not.toHaveProperty('exitCode');
    expect(lines[0]!.codeSha256).toMatch(/^[0-9a-f]{64}$/);
    const ids = lines.filter((l) => l.status !== 'rejected').map((l) => l.executionId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 8)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const withCalls = lines.find((l) => l.tenant === 'acme' && l.mcpCalls.length > 0);
    expect(withCalls?.mcpCalls).toEqual(
      expect.arrayContaining([
        { server: 'everything', op: 'callTool', name: 'echo', ok: true },
        { server: 'memory', op: 'load', ok: false, errorCode: 'denied' },
      ]),
    );
    expect(withCalls?.resources?.mcpCalls).toBeGreaterThan(0);
    const rejected = lines.find((l) => l.status === 'rejected');
    expect(rejected).toMatchObject({ tenant: 'acme', error: { code: 'overloaded' }, mcpCalls: [] });
    expect(rejected?.executionId).toBeUndefined();
  });

  it('on SIGTERM refuses new and queued work, finishes the execution in flight, exits 0 leaving nothing', async () => {
    const acme = await connect(server.url, 'acme-token');
    const globex = await connect(server.url, 'globex-token');
    const inFlight = acme.run('await new Promise((r) => setTimeout(r, 2500)); "finished"');
    await sleep(700);
    // acme's one slot is taken: this one waits in the queue
    const queued = acme.call('"should never run"');
    await sleep(200);
    const exit = server.stop('SIGTERM');
    const refusedQueued = await queued;
    expect(refusedQueued.isError).toBe(true);
    expect(acme.text(refusedQueued)).toContain('shutting down');
    await sleep(100);
    await expect(globex.run('1')).rejects.toThrow(/503|shutting down/);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    const r = await inFlight;
    expect(r.returnValue).toBe('finished');
    expect(await exit).toBe(0);
    await expectNoLeftovers();
    const lines = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditRecord);
    expect(lines.at(-1)).toMatchObject({ tenant: 'acme', status: 'success' });
    expect(lines.some((l) => l.status === 'rejected' && l.error?.message.includes('shutting down'))).toBe(
      true,
    );
    await Promise.allSettled([acme.client.close(), globex.client.close()]);
  });
});

describe.skipIf(!docker)('serve without a tenants file', () => {
  it('refuses to bind a non-loopback address unless told to', async () => {
    const run = promisify(execFile);
    const err = (await run(process.execPath, [cliPath, 'serve', '--host', '0.0.0.0', '--port', '0'], {
      env: { PATH: process.env.PATH, HOME: tmpdir() },
    }).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('refusing to serve 0.0.0.0 without authentication');
  });

  it('serves stateless requests, each with a fresh server; CORS stays off', async () => {
    const server = await startHttpServer({ MCP_CONDUCTOR_POOL_SIZE: '0' }, ['--stateless']);
    try {
      const { client, transport, run } = await connect(server.url, undefined);
      expect((await run('6 * 7')).returnValue).toBe(42);
      expect(transport.sessionId).toBeUndefined();
      await client.close();
      const preflight = await fetch(`${server.url}/mcp`, {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'POST' },
      });
      expect(preflight.status).toBe(403);
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      const plain = await fetch(`${server.url}/mcp`, { method: 'OPTIONS' });
      expect(plain.headers.get('access-control-allow-origin')).toBeNull();
      expect(plain.headers.get('access-control-allow-methods')).toBeNull();
    } finally {
      expect(await server.stop('SIGINT')).toBe(0);
    }
    await expectNoLeftovers();
  });

  it('without a tenants file --max-sessions is the cap: the idle session makes room, a busy one does not; idle ones expire', async () => {
    const server = await startHttpServer({ MCP_CONDUCTOR_POOL_SIZE: '0' }, [
      '--session-idle-timeout',
      '3s',
      '--max-sessions',
      '1',
    ]);
    try {
      const first = await connect(server.url, undefined);
      const slow = first.run('await new Promise((r) => setTimeout(r, 1500)); "done"');
      await sleep(300);
      await expect(connect(server.url, undefined)).rejects.toThrow(
        /tenant local has 1 open sessions, its limit, each with a request in progress/,
      );
      expect((await slow).returnValue).toBe('done');
      const second = await connect(server.url, undefined);
      await expect(first.client.listTools()).rejects.toThrow(/404|unknown or expired session/);
      expect((await second.client.listTools()).tools.map((t) => t.name)).toContain('run_deno_code');
      await sleep(4500);
      await expect(second.client.listTools()).rejects.toThrow(/404|unknown or expired session/);
      expect(metricValue(await metricsText(server.url), 'mcp_conductor_open_sessions')).toBe(0);
      const third = await connect(server.url, undefined);
      await third.end();
      await Promise.all([first.client.close(), second.client.close()]);
    } finally {
      expect(await server.stop()).toBe(0);
    }
    await expectNoLeftovers();
  });
});

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
import { cliPath, expectNoLeftovers, fixturePolicy, startHttpServer } from './helpers.js';

const docker = inject('docker');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

async function connect(url: string, token: string | undefined) {
  const client = new Client({ name: 'http-test', version: '1' });
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
  await client.connect(transport);
  const run = async (code: string, timeout?: number) => {
    const r = (await client.callTool({
      name: 'run_deno_code',
      arguments: { deno_code: code, ...(timeout ? { timeout } : {}) },
    })) as CallToolResult;
    return r.structuredContent as ExecutionResult;
  };
  return { client, transport, run };
}

describe.skipIf(!docker)('serve: multi-tenant Streamable HTTP', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let workspace: string;
  let audit: string;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-http-'));
    workspace = join(dir, 'ws');
    audit = join(dir, 'audit.jsonl');
    const tenants = join(dir, 'tenants.json');
    await writeFile(
      tenants,
      JSON.stringify({
        tenants: [
          {
            id: 'acme',
            tokenSha256: sha('acme-token'),
            policy: fixturePolicy('small'),
            maxConcurrent: 1,
            maxQueued: 1,
          },
          {
            id: 'globex',
            tokenSha256: sha('globex-token'),
            policy: fixturePolicy('small'),
            maxConcurrent: 2,
          },
        ],
      }),
    );
    server = await startHttpServer(
      {
        MCP_CONDUCTOR_TENANTS: tenants,
        MCP_CONDUCTOR_WORKSPACE: workspace,
        MCP_CONDUCTOR_RUN_ARGS: 'allow-read=/workspace,allow-write=/workspace',
      },
      ['--audit-log', audit, '--grace', '20000'],
    );
  });

  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it('answers health, readiness and metrics without a token', async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('mcp_conductor_active_executions');
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
    const nullOrigin = await fetch(`${server.url}/healthz`, { headers: { origin: 'null' } });
    expect(nullOrigin.status).toBe(403);
    // fetch cannot set Host: a rebinding attack arrives with the attacker's name in it, so send one by hand.
    const hostStatus = await new Promise<number>((resolve, reject) =>
      request(
        { host: '127.0.0.1', port: server.port, path: '/healthz', headers: { host: 'attacker.example' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
        .on('error', reject)
        .end(),
    );
    expect(hostStatus).toBe(403);
    const text = await evil.text();
    expect(text).not.toMatch(/\/tmp\/|at .*\.js/);
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
    await acme.client.close();
    await globex.client.close();
  });

  it('queues a tenant over its concurrency cap, then refuses with a clear message', async () => {
    const acme = await connect(server.url, 'acme-token');
    const slow = 'await new Promise((r) => setTimeout(r, 1500)); 1';
    const results = await Promise.all([acme.run(slow), acme.run(slow), acme.run(slow)]);
    const refused = results.filter((r) => r === undefined);
    expect(results.filter((r) => r?.status === 'success')).toHaveLength(2);
    expect(refused).toHaveLength(1);
    const raw = (await acme.client.callTool({
      name: 'run_deno_code',
      arguments: { deno_code: '1' },
    })) as CallToolResult;
    expect(raw.isError).toBeFalsy();
    await acme.client.close();
  });

  it('counts executions in metrics and writes the audit log', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/mcp_conductor_executions_total\{tenant="acme",status="success"\} \d+/);
    expect(metrics).toContain('mcp_conductor_execution_duration_seconds_bucket');
    const lines = (await readFile(audit, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines[0]).toMatchObject({ tenant: 'acme', status: 'success' });
    expect(lines[0]!.codeSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('finishes an execution in flight on SIGTERM, then exits 0 leaving nothing', async () => {
    const acme = await connect(server.url, 'acme-token');
    const inFlight = acme.run('await new Promise((r) => setTimeout(r, 2000)); "finished"');
    await new Promise((r) => setTimeout(r, 700));
    const exit = server.stop('SIGTERM');
    const r = await inFlight;
    expect(r.returnValue).toBe('finished');
    expect(await exit).toBe(0);
    await expectNoLeftovers();
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

  it('serves stateless requests, each with a fresh server', async () => {
    const server = await startHttpServer({}, ['--stateless']);
    try {
      const { client, transport, run } = await connect(server.url, undefined);
      expect((await run('6 * 7')).returnValue).toBe(42);
      expect(transport.sessionId).toBeUndefined();
      await client.close();
    } finally {
      expect(await server.stop()).toBe(0);
    }
    await expectNoLeftovers();
  });
});

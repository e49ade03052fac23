/**
 * The egress gateway end to end: real conductor, real Docker (runc and gVisor), real Deno in the image, loopback
 * HTTPS and HTTP servers on the host with a CA made for the test. The container has network none: it reaches the
 * servers only through its gateway socket.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { makeCertificates, startTarget, type Certificates, type Target } from './fixtures/https-target.mjs';
import {
  expectNoLeftovers,
  startConductor,
  startHttpServer,
  waitForManaged,
  type Conductor,
} from './helpers.js';

const docker = inject('docker');
const TOKEN = 'ghp_egressTestRealValue0123456789abcdef';

let certs: Certificates;
let tls: Target;
let plain: Target;
let dir: string;

beforeAll(async () => {
  if (!docker) return;
  certs = makeCertificates();
  tls = await startTarget({ certs });
  plain = await startTarget();
  dir = await mkdtemp(join(tmpdir(), 'mcpc-egress-'));
});
afterAll(async () => {
  if (!docker) return;
  await Promise.all([tls.close(), plain.close()]);
  await rm(dir, { recursive: true, force: true });
  await rm(certs.dir, { recursive: true, force: true });
});

async function writePolicy(name: string, runtime: 'runc' | 'runsc', extra: Record<string, unknown> = {}) {
  const path = join(dir, `${name}.json`);
  const policy = {
    description: 'egress test',
    container: { runtime },
    egress: {
      allow: [`127.0.0.1:${tls.port}`, `localhost:${plain.port}`],
      secrets: { GITHUB_TOKEN: { env: 'TEST_GH_TOKEN', hosts: [`127.0.0.1:${tls.port}`] } },
      caFile: certs.caFile,
      maxResponseBytes: 65536,
      ...extra,
    },
  };
  await writeFile(path, JSON.stringify(policy));
  return path;
}

const returned = (r: { result: { status: string; returnValue?: unknown; error?: { message: string } } }) => {
  if (r.result.status !== 'success')
    throw new Error(`run failed: ${r.result.error?.message ?? r.result.status}`);
  return r.result.returnValue;
};

describe.skipIf(!docker).each(['runc' as const, 'runsc' as const])('egress gateway under %s', (runtime) => {
  let c: Conductor;
  let base: string;

  beforeAll(async () => {
    base = `https://127.0.0.1:${tls.port}`;
    c = await startConductor('stdio', {
      MCP_CONDUCTOR_POLICY: await writePolicy(`egress-${runtime}`, runtime),
      TEST_GH_TOKEN: TOKEN,
    });
  });
  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('puts the secret into the request to its host; the code and the result only see the placeholder', async () => {
    const r = await c.run(`
      const token = Deno.env.get('GITHUB_TOKEN');
      const res = await fetch('${base}/echo?page=2', { headers: { authorization: 'token ' + token } });
      const echoed = await res.json();
      return { token, status: res.status, echoed: echoed.headers.authorization, header: res.headers.get('x-echo-authorization') };
    `);
    const v = returned(r) as { token: string; status: number; echoed: string; header: string };
    expect(v.token).toMatch(/^mcp-conductor-secret-GITHUB_TOKEN-[0-9a-f]{32}$/);
    expect(v).toMatchObject({ status: 200, echoed: `token ${v.token}`, header: `token ${v.token}` });
    expect(tls.requests.at(-1)!.headers.authorization).toBe(`token ${TOKEN}`);
    expect(JSON.stringify(r)).not.toContain(TOKEN);
  });

  it('refuses the placeholder on a request to another host, and hosts the policy does not list', async () => {
    const r = await c.run(`
      const attempt = async (url, init) => { try { const res = await fetch(url, init); return res.status; } catch (e) { return e.name + ': ' + e.message; } };
      return {
        elsewhere: await attempt('http://localhost:${plain.port}/', { headers: { 'x-token': Deno.env.get('GITHUB_TOKEN') } }),
        plainOk: await attempt('http://localhost:${plain.port}/'),
        localhost: await attempt('https://localhost:${tls.port}/'),
        other: await attempt('https://example.com/'),
        metadata: await attempt('http://169.254.169.254/latest/meta-data/'),
      };
    `);
    const v = returned(r) as Record<string, string | number>;
    expect(v.elsewhere).toBe(
      `NotCapable: egress: the request carries the placeholder of GITHUB_TOKEN, which the policy gives only to 127.0.0.1:${tls.port}`,
    );
    expect(v.plainOk).toBe(200);
    const allowList = `(egress.allow: 127.0.0.1:${tls.port}, localhost:${plain.port})`;
    expect(v.localhost).toBe(
      `NotCapable: egress: the policy does not allow requests to localhost:${tls.port} ${allowList}`,
    );
    expect(v.other).toBe(
      `NotCapable: egress: the policy does not allow requests to example.com:443 ${allowList}`,
    );
    expect(v.metadata).toContain(
      'NotCapable: egress: the policy does not allow requests to 169.254.169.254:80',
    );
  });

  it('checks each redirect again, and fails a body past maxResponseBytes with an error saying so', async () => {
    const r = await c.run(`
      const same = await fetch('${base}/redirect?to=/echo');
      let away;
      try { await fetch('${base}/redirect?to=https://169.254.169.254/latest'); } catch (e) { away = e.message; }
      let big;
      try { await (await fetch('${base}/bytes?n=1000000')).arrayBuffer(); } catch (e) { big = e.name + ': ' + e.message; }
      let declared;
      try { await fetch('${base}/sized?n=100000'); } catch (e) { declared = e.message; }
      return { redirected: same.redirected, url: same.url, away, big, declared };
    `);
    expect(returned(r)).toEqual({
      redirected: true,
      url: `${base}/echo`,
      away: expect.stringContaining(
        'egress: the policy does not allow requests to 169.254.169.254:443',
      ) as unknown,
      big: `TypeError: egress: the response from 127.0.0.1:${tls.port} is larger than the policy's egress.maxResponseBytes (65536 bytes)`,
      declared: `egress: the response from 127.0.0.1:${tls.port} has 100000 bytes: the policy's egress.maxResponseBytes is 65536 bytes`,
    });
  });

  it('gives no raw network: TCP goes nowhere, the socket speaks only checked HTTP', async () => {
    const r = await c.run(`
      const out = {};
      try { await Deno.connect({ hostname: '127.0.0.1', port: ${tls.port} }); out.tcp = 'connected'; } catch (e) { out.tcp = e.name; }
      const conn = await Deno.connect({ transport: 'unix', path: '/run/conductor/egress.sock' });
      await conn.write(new TextEncoder().encode('CONNECT 127.0.0.1:${tls.port} HTTP/1.1\\r\\nhost: x\\r\\n\\r\\n'));
      const buf = new Uint8Array(512);
      const n = await conn.read(buf);
      out.connect = new TextDecoder().decode(buf.subarray(0, n ?? 0)).split('\\r\\n')[0];
      conn.close();
      return out;
    `);
    expect(returned(r)).toEqual({
      tcp: 'ConnectionRefused',
      connect: 'HTTP/1.1 403 Forbidden',
    });
  });

  it('runs Octokit against the loopback API with the placeholder as its token', async () => {
    const r = await c.run(`
      import { Octokit } from 'npm:@octokit/rest@^20';
      const octokit = new Octokit({ auth: Deno.env.get('GITHUB_TOKEN'), baseUrl: '${base}' });
      const { status, data } = await octokit.rest.users.getAuthenticated();
      return { status, login: data.login, seen: data.seen };
    `);
    const v = returned(r) as { status: number; login: string; seen: string };
    expect(v).toMatchObject({ status: 200, login: 'octocat' });
    expect(v.seen).toMatch(/^token mcp-conductor-secret-GITHUB_TOKEN-/);
    expect(tls.requests.at(-1)).toMatchObject({ url: '/user', headers: { authorization: `token ${TOKEN}` } });
  });

  it('sends node:https and node:http requests through the gateway', async () => {
    const r = await c.run(`
      import https from 'node:https';
      import http from 'node:http';
      const get = (mod, url, headers = {}) => new Promise((resolve) => {
        mod.get(url, { headers }, (res) => { let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => resolve(res.statusCode + ' ' + body.slice(0, 60))); })
          .on('error', (e) => resolve(e.name + ': ' + e.message));
      });
      return {
        https: await get(https, '${base}/user', { authorization: 'token ' + Deno.env.get('GITHUB_TOKEN') }),
        http: await get(http, 'http://localhost:${plain.port}/n'),
        refused: await get(https, 'https://example.com/'),
      };
    `);
    const v = returned(r) as Record<string, string>;
    expect(v.https).toMatch(/^200 \{"login":"octocat"/);
    expect(v.http).toBe('200 ok GET /n');
    expect(v.refused).toContain('NotCapable: egress: the policy does not allow requests to example.com:443');
    expect(tls.requests.at(-1)!.headers.authorization).toBe(`token ${TOKEN}`);
  });

  it('keeps the value out of the container: env, command line, files (docker inspect of a pooled sandbox)', async () => {
    const pooled = await waitForManaged((l) => l.length > 0);
    // The last run's container may be going away meanwhile: inspect the ones still there.
    const inspected = pooled
      .map((p) => {
        try {
          return execFileSync('docker', ['inspect', p.id], { encoding: 'utf8', stdio: 'pipe' });
        } catch {
          return '';
        }
      })
      .join('');
    expect(inspected).not.toBe('');
    expect(inspected).not.toContain(TOKEN);
    expect(inspected).toContain('HTTPS_PROXY=unix:/run/conductor/egress.sock');
    expect(inspected).toContain('mcp-conductor-secret-GITHUB_TOKEN-');
    const r = await c.run(`
      const files = [];
      for await (const e of Deno.readDir('/run/conductor')) files.push(e.name);
      return files.sort();
    `);
    // The code has no read grant on the directory: only the two sockets were granted.
    expect(r.result.error?.name).toBe('NotCapable');
  });
});

describe.skipIf(!docker)('egress audit, metrics and description over HTTP', () => {
  it('audits each request without query or value, counts it by policy entry, and tells the model', async () => {
    const auditLog = join(dir, 'audit.jsonl');
    const server = await startHttpServer(
      { MCP_CONDUCTOR_POLICY: await writePolicy('egress-http', 'runc'), TEST_GH_TOKEN: TOKEN },
      ['--audit-log', auditLog],
    );
    const client = new Client({ name: 'egress-test', version: '1.0.0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`)));
      const { tools } = await client.listTools();
      const description = tools.find((t) => t.name === 'run_deno_code')!.description!;
      expect(description).toContain(`127.0.0.1:${tls.port}`);
      expect(description).toContain("Deno.env.get('GITHUB_TOKEN')");
      const r = (await client.callTool({
        name: 'run_deno_code',
        arguments: {
          deno_code: `
            const h = { authorization: 'Bearer ' + Deno.env.get('GITHUB_TOKEN') };
            const a = await fetch('https://127.0.0.1:${tls.port}/echo?secret=${TOKEN.slice(0, 6)}', { headers: h });
            await a.text();
            try { await fetch('https://unlisted.example/'); } catch {}
            return a.status;`,
        },
      })) as CallToolResult;
      expect(r.structuredContent).toMatchObject({ status: 'success', returnValue: 200 });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain(
        `mcp_conductor_egress_requests_total{host="127.0.0.1:${tls.port}",outcome="ok"} 1`,
      );
      await server.stop();
      const line = JSON.parse((await readFile(auditLog, 'utf8')).trim().split('\n').at(-1)!) as {
        egress: Record<string, unknown>[];
      };
      expect(line.egress).toEqual([
        expect.objectContaining({
          method: 'GET',
          host: `127.0.0.1:${tls.port}`,
          rule: `127.0.0.1:${tls.port}`,
          path: '/echo',
          status: 200,
          outcome: 'ok',
          secrets: ['GITHUB_TOKEN'],
        }),
      ]);
      expect(JSON.stringify(line)).not.toContain(TOKEN);
      expect(JSON.stringify(line)).not.toContain('secret=');
    } finally {
      await client.close().catch(() => undefined);
      await server.stop();
    }
    await expectNoLeftovers();
  });
});

describe.skipIf(!docker)('egress start-up', () => {
  it('stops with a message naming the policy and the secret when its source is missing', async () => {
    const path = await writePolicy('egress-missing', 'runc');
    await expect(startHttpServer({ MCP_CONDUCTOR_POLICY: path })).rejects.toThrow(
      /egress secret GITHUB_TOKEN: the environment variable TEST_GH_TOKEN is not set/,
    );
  });
});

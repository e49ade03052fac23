import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import {
  expectNoLeftovers,
  fixturePolicy,
  startConductor,
  startHttpServer,
  until,
  waitForManaged,
  type Conductor,
  mcpPackage,
} from './helpers.js';
import { LABEL_TENANT, type ManagedContainer } from '../src/docker/index.js';

const docker = inject('docker');
const sha = (t: string) => createHash('sha256').update(t).digest('hex');
const everything = { command: process.execPath, args: [mcpPackage('server-everything'), 'stdio'] };
const memory = (dir: string) => ({
  command: process.execPath,
  args: [mcpPackage('server-memory')],
  env: { MEMORY_FILE_PATH: join(dir, 'memory-${MCP_CONDUCTOR_TENANT}.jsonl') },
});

/** Saves as editors do: a new file renamed over the old one. */
async function save(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp-${process.hrtime.bigint()}`;
  await writeFile(tmp, typeof value === 'string' ? value : JSON.stringify(value));
  await rename(tmp, path);
}

async function eventually<T>(attempt: () => Promise<T>, ok: (value: T) => boolean, ms = 5_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await attempt().catch((error: unknown) => error as T);
    if (ok(value)) return value;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${String(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function connect(url: string, token: string) {
  const client = new Client({ name: 'reload-test', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  const run = async (code: string) => {
    const r = (await client.callTool({
      name: 'run_deno_code',
      arguments: { deno_code: code },
    })) as CallToolResult;
    return r.structuredContent as ExecutionResult;
  };
  const servers = async () => {
    const r = (await client.callTool({ name: 'list_mcp_servers', arguments: {} })) as CallToolResult;
    return r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
  };
  const end = async () => {
    await transport.terminateSession().catch(() => undefined);
    await client.close();
  };
  return { client, transport, run, servers, end };
}

/** An upstream call before and after a pause: a reload in between must not take the server from under it. */
const UPSTREAM_BOTH_SIDES = `const s = await mcpFactory.load('everything');
await s.callTool('echo', { message: 'before' });
await new Promise((r) => setTimeout(r, 100));
await s.callTool('echo', { message: 'after' });
return 'ok';`;

const ENV_STATE = 'return (await Deno.permissions.query({ name: "env" })).state';

describe.skipIf(!docker)('live reload over Streamable HTTP', () => {
  let dir: string;
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let tenantsPath: string;
  let policyPath: string;
  let mcpPath: string;
  let policy: {
    deno: { permissions: Record<string, unknown> };
    limits?: Record<string, unknown>;
    description?: string;
  };
  const tenant = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    tokenSha256: sha(`${id}-token`),
    policy: policyPath,
    servers: '*',
    ...extra,
  });
  const reloads = async (result: string) => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`mcp_conductor_config_reloads_total{result="${result}"} `));
    return Number(line?.split(' ')[1] ?? 0);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpc-reload-'));
    tenantsPath = join(dir, 'tenants.json');
    policyPath = join(dir, 'policy.json');
    mcpPath = join(dir, 'mcp.json');
    policy = JSON.parse(await readFile(fixturePolicy('small'), 'utf8')) as typeof policy;
    delete (policy as { $schema?: string }).$schema;
    await save(policyPath, policy);
    await save(mcpPath, { mcpServers: { everything } });
    await save(tenantsPath, {
      tenants: [tenant('alpha'), tenant('stable', { policy: fixturePolicy('small') })],
    });
    server = await startHttpServer({
      MCP_CONDUCTOR_TENANTS: tenantsPath,
      MCP_CONDUCTOR_MCP_CONFIG: mcpPath,
      MCP_CONDUCTOR_POOL_SIZE: '1',
    });
  });

  afterAll(async () => {
    await server?.stop();
    await expectNoLeftovers();
  });

  it('lets a tenant added to the tenants file connect within 5 s, while open sessions keep working', async () => {
    const stable = await connect(server.url, 'stable-token');
    expect((await stable.run('return 1')).returnValue).toBe(1);
    const t0 = Date.now();
    await save(tenantsPath, {
      tenants: [tenant('alpha'), tenant('stable', { policy: fixturePolicy('small') }), tenant('beta')],
    });
    const beta = await eventually(
      () => connect(server.url, 'beta-token'),
      (c) => c instanceof Object && 'run' in c,
    );
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect((await beta.run('return "beta"')).returnValue).toBe('beta');
    // The same session, not a new one: the reload did not touch this tenant.
    const session = stable.transport.sessionId;
    expect((await stable.run('return 2')).returnValue).toBe(2);
    expect(stable.transport.sessionId).toBe(session);
    await Promise.all([stable.end(), beta.end()]);
  });

  it('puts a changed policy in force for an open session, tells it the new tool, and leaves other tenants as they were', async () => {
    const alpha = await connect(server.url, 'alpha-token');
    const stable = await connect(server.url, 'stable-token');
    const told = { alpha: 0, stable: 0 };
    alpha.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void told.alpha++);
    stable.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void told.stable++);
    // The GET streams carry notifications that belong to no request: open them before the change.
    await new Promise((r) => setTimeout(r, 200));
    expect((await alpha.run(ENV_STATE)).returnValue).not.toBe('granted');
    const timeoutMax = async (c: Client) => {
      const tool = (await c.listTools()).tools.find((t) => t.name === 'run_deno_code');
      return (tool?.inputSchema.properties?.timeout as { maximum?: number } | undefined)?.maximum;
    };
    expect(await timeoutMax(alpha.client)).toBe(20_000);
    policy.deno.permissions.env = true;
    policy.limits = { ...policy.limits, maxTimeoutMs: 15_000 };
    await save(policyPath, policy);
    await eventually(
      () => alpha.run(ENV_STATE),
      (r) => r.returnValue === 'granted',
    );
    await until(() => told.alpha > 0, 5_000);
    expect(await timeoutMax(alpha.client)).toBe(15_000);
    expect(await timeoutMax(stable.client)).toBe(20_000);
    expect(told.stable).toBe(0);
    expect((await stable.run(ENV_STATE)).returnValue).not.toBe('granted');
    await Promise.all([alpha.end(), stable.end()]);
  });

  it('keeps the last good configuration when a change fails validation, and says why on stderr', async () => {
    const alpha = await connect(server.url, 'alpha-token');
    const failedBefore = await reloads('failed');
    const good = await readFile(tenantsPath, 'utf8');
    await save(tenantsPath, { tenants: [{ id: 'Not A Valid Id', tokenSha256: sha('x') }] });
    await until(() => /configuration reload failed.*tenants file/.test(server.stderr()), 5_000);
    const line = server
      .stderr()
      .split('\n')
      .find((l) => l.includes('configuration reload failed'))!;
    expect(line).toContain('tenant ids are lower-case letters');
    expect(await reloads('failed')).toBe(failedBefore + 1);
    // Everything still as before: the open session, and a new one with a token of the last good file.
    expect((await alpha.run('return 3')).returnValue).toBe(3);
    const beta = await connect(server.url, 'beta-token');
    expect((await beta.run('return 4')).returnValue).toBe(4);
    await save(tenantsPath, good);
    await Promise.all([alpha.end(), beta.end()]);
  });

  it('answers every call made during several reloads, with no failure', async () => {
    const alpha = await connect(server.url, 'alpha-token');
    const results: ExecutionResult[] = [];
    const errors: unknown[] = [];
    let running = true;
    const worker = async () => {
      while (running)
        await alpha.run(UPSTREAM_BOTH_SIDES).then(
          (r) => results.push(r),
          (e: unknown) => errors.push(e),
        );
    };
    const workers = [worker(), worker(), worker()];
    for (let i = 0; i < 3; i++) {
      const applied = await reloads('applied');
      // A policy change rebuilds the tenant's context and its warm containers.
      policy.description = `revision ${i}`;
      await save(policyPath, policy);
      await eventually(reloads.bind(null, 'applied'), (n) => n > applied);
      const answered = results.length;
      await until(() => results.length > answered + 2, 30_000);
    }
    running = false;
    await Promise.all(workers);
    expect(errors).toEqual([]);
    expect(results.filter((r) => r.status !== 'success' || r.returnValue !== 'ok')).toEqual([]);
    // The warm containers of each replaced policy went with it: one idle container of the policy in force stays.
    const alphas = (l: ManagedContainer[]) => l.filter((c) => c.labels[LABEL_TENANT] === 'alpha');
    expect(alphas(await waitForManaged((l) => alphas(l).length <= 1))).toHaveLength(1);
    await alpha.end();
  });

  it('gives sandbox code an upstream server added to mcp.json', async () => {
    const alpha = await connect(server.url, 'alpha-token');
    expect(await alpha.servers()).toBe('everything');
    await save(mcpPath, { mcpServers: { everything, memory: memory(dir) } });
    await eventually(alpha.servers, (s) => s === 'everything\nmemory');
    const r = await alpha.run(`
const mem = await mcpFactory.load('memory');
await mem.callTool('create_entities', { entities: [{ name: 'reload', entityType: 'feature', observations: [] }] });
return (await mem.callTool('read_graph', {})).entities.map((e) => e.name);`);
    expect(r.error).toBeUndefined();
    expect(r.returnValue).toEqual(['reload']);
    await alpha.end();
  });

  it("ends a removed tenant's sessions and keeps the others", async () => {
    const beta = await connect(server.url, 'beta-token');
    const alpha = await connect(server.url, 'alpha-token');
    const applied = await reloads('applied');
    await save(tenantsPath, {
      tenants: [tenant('alpha'), tenant('stable', { policy: fixturePolicy('small') })],
    });
    await eventually(reloads.bind(null, 'applied'), (n) => n > applied);
    await expect(beta.run('return 5')).rejects.toThrow();
    expect((await alpha.run('return 6')).returnValue).toBe(6);
    await Promise.all([alpha.end(), beta.end()]);
  });

  it('reloads at once on SIGHUP, with no file changed', async () => {
    const applied = await reloads('applied');
    server.child.kill('SIGHUP');
    await eventually(reloads.bind(null, 'applied'), (n) => n === applied + 1, 1_000);
    expect(server.child.exitCode).toBeNull();
  });
});

describe.skipIf(!docker)('live reload of mcp.json over stdio', () => {
  let c: Conductor;
  let dir: string;
  let mcpPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mcpc-reload-stdio-'));
    mcpPath = join(dir, 'mcp.json');
    await save(mcpPath, { mcpServers: { everything } });
    c = await startConductor('stdio', { MCP_CONDUCTOR_MCP_CONFIG: mcpPath, MCP_CONDUCTOR_POOL_SIZE: '1' });
  });

  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('calls an upstream server added to mcp.json from the same session, and keeps it through a broken edit', async () => {
    await save(mcpPath, { mcpServers: { everything, memory: memory(dir) } });
    const code = `const mem = await mcpFactory.load('memory'); return (await mem.listTools()).some((t) => t.name === 'read_graph');`;
    await eventually(
      () => c.run(code),
      (r) => r.result?.returnValue === true,
    );
    await save(mcpPath, '{ "mcpServers": ');
    await until(() => c.stderr().includes('configuration reload failed'), 5_000);
    expect((await c.run(code)).result.returnValue).toBe(true);
  });
});

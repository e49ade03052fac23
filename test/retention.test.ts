import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import {
  expectNoLeftovers,
  fixturePolicy,
  startConductor,
  startHttpServer,
  TRANSPORTS,
  type Conductor,
} from './helpers.js';

const docker = inject('docker');
const LINES = 'for (let i = 0; i < 20000; i++) console.log(`line ${i} of the report`);';
const expected = Array.from({ length: 20000 }, (_, i) => `line ${i} of the report\n`).join('');

async function call(client: Client, code: string) {
  const r = (await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } }, undefined, {
    timeout: 300_000,
  })) as CallToolResult;
  return { r, result: r.structuredContent as ExecutionResult };
}

const readText = async (client: Client, uri: string) => {
  const { contents } = await client.readResource({ uri });
  return (contents[0] as { text: string }).text;
};

describe.skipIf(!docker).each(TRANSPORTS)('output past the caps over %s', (transport) => {
  let c: Conductor;
  beforeAll(async () => {
    c = await startConductor(transport, { MCP_CONDUCTOR_POOL_SIZE: '1' });
  });
  afterAll(async () => {
    await c?.close();
    await expectNoLeftovers();
  });

  it('gives 20,000 lines of stdout back whole through resources/read', async () => {
    const { r, result } = await call(c.client, LINES);
    expect(result.truncated.stdout).toBe(true);
    expect(result.stdout.length).toBe(65536);
    const ref = result.retained!.stdout!;
    expect(ref).toMatchObject({ bytes: expected.length, complete: true });
    expect(ref.uri).toMatch(/^conductor:\/\/executions\/[0-9a-f-]{36}\/stdout$/);
    const text = r.content.map((x) => (x.type === 'text' ? x.text : '')).join('');
    expect(text).toContain(
      `[stdout truncated: only the first 65536 bytes are shown; all ${expected.length} bytes are at ${ref.uri}`,
    );
    expect(r.content).toContainEqual(expect.objectContaining({ type: 'resource_link', uri: ref.uri }));
    expect(await readText(c.client, ref.uri)).toBe(expected);
    const { resources } = await c.client.listResources();
    expect(resources.map((x) => x.uri)).toContain(ref.uri);
  });

  it('keeps a return value past maxReturnBytes, and says an unknown one is not found', async () => {
    const { result } = await call(c.client, "({ big: 'é'.repeat(200_000), n: 1 })");
    expect(result.truncated.returnValue).toBe(true);
    const whole = await readText(c.client, result.retained!.returnValue!.uri);
    expect(JSON.parse(whole)).toEqual({ big: 'é'.repeat(200_000), n: 1 });
    const missing = 'conductor://executions/00000000-0000-4000-8000-000000000000/stdout';
    await expect(c.client.readResource({ uri: missing })).rejects.toThrow(`Resource ${missing} not found`);
  });
});

describe.skipIf(!docker)('retention per tenant over HTTP', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  const clients: Client[] = [];
  const connect = async (token: string) => {
    const client = new Client({ name: 't', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-retain-'));
    const tenants = join(dir, 'tenants.json');
    await writeFile(
      tenants,
      JSON.stringify({
        tenants: [
          { id: 'alpha', tokenSha256: sha('alpha-token'), policy: fixturePolicy('retain-small') },
          { id: 'beta', tokenSha256: sha('beta-token') },
        ],
      }),
    );
    server = await startHttpServer({ MCP_CONDUCTOR_TENANTS: tenants, MCP_CONDUCTOR_POOL_SIZE: '0' });
  });
  afterAll(async () => {
    await Promise.all(clients.map((x) => x.close()));
    await server?.stop();
    await expectNoLeftovers();
  });

  it("never gives one tenant another tenant's output: it is not found, as a missing one is", async () => {
    const alpha = await connect('alpha-token');
    const beta = await connect('beta-token');
    const { result } = await call(alpha, LINES);
    const { uri } = result.retained!.stdout!;
    expect(await readText(alpha, uri)).toBe(expected);
    await expect(beta.readResource({ uri })).rejects.toThrow(`Resource ${uri} not found`);
    expect((await beta.listResources()).resources).toEqual([]);
  });

  it('evicts the oldest output first when the budget is full', async () => {
    const alpha = await connect('alpha-token');
    const big = "console.log('x'.repeat(200_000))";
    const uris: string[] = [];
    for (let i = 0; i < 3; i++) uris.push((await call(alpha, big)).result.retained!.stdout!.uri);
    // 500 kB: the 20,000 lines (about 460 kB) went for the first, the first for the third.
    await expect(alpha.readResource({ uri: uris[0]! })).rejects.toThrow('not found');
    expect((await readText(alpha, uris[1]!)).length).toBe(200_001);
    expect((await readText(alpha, uris[2]!)).length).toBe(200_001);
  });
});

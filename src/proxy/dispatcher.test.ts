import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PolicySchema } from '../config/policy.js';
import { createCallDispatcher } from './dispatcher.js';
import type { CallMessage } from './protocol.js';
import type { UpstreamPool } from './upstreams.js';

async function memoryPool(): Promise<UpstreamPool & { peak: () => number }> {
  const server = new McpServer({ name: 'mem', version: '1' });
  let running = 0;
  let peak = 0;
  server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('secret', { inputSchema: {} }, () => ({ content: [{ type: 'text', text: 'hidden' }] }));
  server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, ms));
    running--;
    return { content: [{ type: 'text', text: 'done' }] };
  });
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 't', version: '1' });
  await client.connect(b);
  return {
    names: () => ['mem', 'other'],
    get: () => Promise.resolve(client),
    close: () => client.close(),
    peak: () => peak,
  };
}

const limits = { maxMcpCalls: 5, maxConcurrentMcpCalls: 2, mcpCallTimeoutMs: 200 };
const call = (id: number, op: CallMessage['op'], extra: Partial<CallMessage> = {}): CallMessage => ({
  t: 'call',
  id,
  op,
  ...extra,
});

describe('call dispatcher', () => {
  it('applies the server and tool allowlists', async () => {
    const pool = await memoryPool();
    const allow = PolicySchema.parse({ mcp: { servers: ['mem'], tools: { mem: ['echo', 'slow'] } } }).mcp;
    const d = createCallDispatcher({ pool, allow, limits });
    expect(await d.handle(call(1, 'list'))).toEqual({ t: 'reply', id: 1, ok: true, result: ['mem'] });
    expect(await d.handle(call(2, 'load', { server: 'other' }))).toMatchObject({
      ok: false,
      error: { code: 'denied' },
    });
    expect(await d.handle(call(3, 'load', { server: 'nope' }))).toMatchObject({
      ok: false,
      error: { code: 'unknown_server', message: 'Unknown MCP server "nope". Available: mem' },
    });
    const tools = await d.handle(call(4, 'listTools', { server: 'mem' }));
    expect(tools.ok && (tools.result as { name: string }[]).map((t) => t.name).sort()).toEqual([
      'echo',
      'slow',
    ]);
    expect(await d.handle(call(5, 'callTool', { server: 'mem', name: 'secret' }))).toMatchObject({
      ok: false,
      error: { code: 'denied' },
    });
    expect(
      await d.handle(call(6, 'callTool', { server: 'mem', name: 'echo', args: { text: 'x' } })),
    ).toMatchObject({
      ok: true,
      result: { content: [{ type: 'text', text: 'x' }] },
    });
    expect(await d.handle(call(7, 'callTool', { server: 'mem' }))).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });
  });

  it('caps calls per execution and queues beyond the concurrency cap', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {} },
      limits: { ...limits, mcpCallTimeoutMs: 5000 },
    });
    const replies = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((id) =>
        d.handle(call(id, 'callTool', { server: 'mem', name: 'slow', args: { ms: 50 } })),
      ),
    );
    expect(replies.filter((r) => r.ok)).toHaveLength(5);
    expect(replies.find((r) => !r.ok)).toMatchObject({
      error: { code: 'limit', message: 'MCP call limit reached (5 calls per execution)' },
    });
    expect(pool.peak()).toBe(2);
    expect(d.callCount).toBe(5);
  });

  it('times a slow call out with a clear message', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({ pool, allow: { servers: '*', tools: {} }, limits });
    expect(
      await d.handle(call(1, 'callTool', { server: 'mem', name: 'slow', args: { ms: 2000 } })),
    ).toMatchObject({
      ok: false,
      error: { code: 'timeout', message: 'MCP call to "mem" timed out after 200 ms' },
    });
  });
});

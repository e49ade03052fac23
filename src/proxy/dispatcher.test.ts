import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PolicySchema } from '../config/policy.js';
import { createRateWindow } from '../core/index.js';
import { createCallDispatcher } from './dispatcher.js';
import type { CallMessage } from './protocol.js';
import { abortable, type UpstreamPool } from './upstreams.js';

async function memoryPool(connectMs = 0) {
  const server = new McpServer({ name: 'mem', version: '1' });
  let running = 0;
  let peak = 0;
  let started = 0;
  const cancelled: string[] = [];
  server.registerTool('echo', { inputSchema: { text: z.string() } }, ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('secret', { inputSchema: {} }, () => ({ content: [{ type: 'text', text: 'hidden' }] }));
  const metas: unknown[] = [];
  server.registerTool('meta', { inputSchema: {} }, (_args, extra) => {
    metas.push(extra._meta);
    return { content: [{ type: 'text', text: 'seen' }] };
  });
  server.registerTool('slow', { inputSchema: { ms: z.number() } }, async ({ ms }, extra) => {
    running++;
    started++;
    peak = Math.max(peak, running);
    extra.signal.addEventListener('abort', () => cancelled.push(String(extra.requestId)));
    await new Promise((r) => setTimeout(r, ms));
    running--;
    return { content: [{ type: 'text', text: 'done' }] };
  });
  for (const name of ['readme', 'secret'])
    server.registerResource(name, `mem://${name}`, {}, (uri, extra) => {
      metas.push(extra._meta);
      return { contents: [{ uri: uri.href, text: 'hello' }] };
    });
  for (const name of ['greet', 'secret'])
    server.registerPrompt(name, {}, () => ({
      messages: [{ role: 'user', content: { type: 'text', text: name } }],
    }));
  const [a, b] = InMemoryTransport.createLinkedPair();
  await server.connect(a);
  const client = new Client({ name: 't', version: '1' });
  await client.connect(b);
  // A lazy connect that takes `connectMs` the first time, like a slow upstream start.
  const connected = new Promise<Client>((r) => setTimeout(() => r(client), connectMs));
  const traces: unknown[] = [];
  const pool: UpstreamPool = {
    names: () => ['mem', 'other'],
    get: () => connected,
    use: async (_name, fn, signal, trace) => (traces.push(trace), fn(await abortable(connected, signal))),
    close: () => client.close(),
  };
  return { ...pool, peak: () => peak, started: () => started, cancelled, metas, traces };
}

/** An execution that is still running. */
const live = new AbortController().signal;
const limits = { maxMcpCalls: 5, maxConcurrentMcpCalls: 2, mcpCallTimeoutMs: 200, maxMcpReplyBytes: 1 << 20 };
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
    expect(await d.handle(call(1, 'list'), live)).toEqual({ t: 'reply', id: 1, ok: true, result: ['mem'] });
    expect(await d.handle(call(2, 'load', { server: 'other' }), live)).toMatchObject({
      ok: false,
      error: { code: 'denied' },
    });
    expect(await d.handle(call(3, 'load', { server: 'nope' }), live)).toMatchObject({
      ok: false,
      error: { code: 'unknown_server', message: 'Unknown MCP server "nope". Available: mem' },
    });
    const tools = await d.handle(call(4, 'listTools', { server: 'mem' }), live);
    expect(tools.ok && (tools.result as { name: string }[]).map((t) => t.name).sort()).toEqual([
      'echo',
      'slow',
    ]);
    expect(await d.handle(call(5, 'callTool', { server: 'mem', name: 'secret' }), live)).toMatchObject({
      ok: false,
      error: { code: 'denied' },
    });
    expect(
      await d.handle(call(6, 'callTool', { server: 'mem', name: 'echo', args: { text: 'x' } }), live),
    ).toMatchObject({
      ok: true,
      result: { content: [{ type: 'text', text: 'x' }] },
    });
    expect(await d.handle(call(7, 'callTool', { server: 'mem' }), live)).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });
  });

  it('serves a restricted server only the resources and prompts listed for it, all of an unrestricted one', async () => {
    const pool = await memoryPool();
    const names = async (d: ReturnType<typeof createCallDispatcher>, op: CallMessage['op'], key: string) => {
      const r = await d.handle(call(1, op, { server: 'mem' }), live);
      return r.ok ? (r.result as Record<string, string>[]).map((x) => x[key]) : r.error.code;
    };
    const toolsOnly = createCallDispatcher({
      pool,
      allow: PolicySchema.parse({ mcp: { tools: { mem: ['echo'] } } }).mcp,
      limits: { ...limits, maxMcpCalls: 100 },
    });
    expect(await names(toolsOnly, 'listResources', 'uri')).toEqual([]);
    expect(await names(toolsOnly, 'listPrompts', 'name')).toEqual([]);
    expect(
      await toolsOnly.handle(call(2, 'readResource', { server: 'mem', uri: 'mem://readme' }), live),
    ).toEqual({
      t: 'reply',
      id: 2,
      ok: false,
      error: {
        code: 'denied',
        message: 'Resource "mem://readme" of server "mem" is not allowed by the policy',
      },
    });
    expect(
      await toolsOnly.handle(call(3, 'getPrompt', { server: 'mem', name: 'greet' }), live),
    ).toMatchObject({
      ok: false,
      error: { code: 'denied', message: 'Prompt "greet" of server "mem" is not allowed by the policy' },
    });
    const listed = createCallDispatcher({
      pool,
      allow: PolicySchema.parse({ mcp: { resources: { mem: ['mem://readme'] }, prompts: { mem: ['*'] } } })
        .mcp,
      limits: { ...limits, maxMcpCalls: 100 },
    });
    expect(await names(listed, 'listResources', 'uri')).toEqual(['mem://readme']);
    expect(await names(listed, 'listPrompts', 'name')).toEqual(['greet', 'secret']);
    expect(
      await listed.handle(call(4, 'readResource', { server: 'mem', uri: 'mem://readme' }), live),
    ).toMatchObject({
      ok: true,
    });
    expect(
      await listed.handle(call(5, 'readResource', { server: 'mem', uri: 'mem://secret' }), live),
    ).toMatchObject({
      ok: false,
      error: { code: 'denied' },
    });
    // Restricted through its resources, the server serves no tools unless they are listed too.
    expect(await names(listed, 'listTools', 'name')).toEqual([]);
    const open = createCallDispatcher({ pool, allow: PolicySchema.parse({}).mcp, limits });
    expect(await names(open, 'listResources', 'uri')).toEqual(['mem://readme', 'mem://secret']);
    expect(await names(open, 'listPrompts', 'name')).toEqual(['greet', 'secret']);
  });

  it('fails a reply over maxMcpReplyBytes with too_large, and serves the next call', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: PolicySchema.parse({}).mcp,
      limits: { ...limits, maxMcpReplyBytes: 1024 },
    });
    const echo = (id: number, text: string) =>
      d.handle(call(id, 'callTool', { server: 'mem', name: 'echo', args: { text } }), live);
    expect(await echo(1, 'x'.repeat(2000))).toEqual({
      t: 'reply',
      id: 1,
      ok: false,
      error: {
        code: 'too_large',
        message: `The reply of MCP server "mem" was over the policy's limit of 1024 bytes (limits.maxMcpReplyBytes)`,
      },
    });
    expect(await echo(2, 'small')).toMatchObject({ ok: true });
  });

  it('caps calls per execution and queues beyond the concurrency cap', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits: { ...limits, mcpCallTimeoutMs: 5000 },
    });
    const replies = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((id) =>
        d.handle(call(id, 'callTool', { server: 'mem', name: 'slow', args: { ms: 50 } }), live),
      ),
    );
    expect(replies.filter((r) => r.ok)).toHaveLength(5);
    expect(replies.find((r) => !r.ok)).toMatchObject({
      error: { code: 'limit', message: 'MCP call limit reached (5 calls per execution)' },
    });
    expect(pool.peak()).toBe(2);
    expect(d.callCount).toBe(5);
  });

  it("refuses calls past the tenant's rate across its executions, with a code the sandbox can test", async () => {
    const pool = await memoryPool();
    const callRate = createRateWindow({ limit: 2, what: 'mcpFactory calls for tenant acme' });
    const opts = {
      pool,
      allow: { servers: '*' as const, tools: {}, resources: {}, prompts: {} },
      limits,
      callRate,
    };
    const [one, two] = [createCallDispatcher(opts), createCallDispatcher(opts)];
    const echo = (id: number) => call(id, 'callTool', { server: 'mem', name: 'echo', args: { text: 'x' } });
    expect(await one.handle(echo(1), live)).toMatchObject({ ok: true });
    // list and load never reach a server: they do not count.
    expect(await two.handle(call(2, 'list'), live)).toMatchObject({ ok: true });
    expect(await two.handle(call(3, 'load', { server: 'mem' }), live)).toMatchObject({ ok: true });
    expect(await two.handle(echo(4), live)).toMatchObject({ ok: true });
    const refused = await one.handle(echo(5), live);
    expect(refused).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    expect(!refused.ok && refused.error.message).toMatch(
      /^Too many mcpFactory calls for tenant acme: the limit is 2 per minute\. The next one is possible in \d+ s\.$/,
    );
    // A refused call never reached the upstream and is not one of the execution's calls.
    expect([one.callCount, two.callCount]).toEqual([1, 1]);
  });

  it('times a slow call out with a clear message', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits,
    });
    expect(
      await d.handle(call(1, 'callTool', { server: 'mem', name: 'slow', args: { ms: 2000 } }), live),
    ).toMatchObject({
      ok: false,
      error: { code: 'timeout', message: 'MCP call to "mem" timed out after 200 ms' },
    });
  });

  it('starts the per-call clock when the call arrives, covering the queue and a slow connect', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits: { maxMcpCalls: 5, maxConcurrentMcpCalls: 1, mcpCallTimeoutMs: 300, maxMcpReplyBytes: 1 << 20 },
    });
    const slow = (id: number) => call(id, 'callTool', { server: 'mem', name: 'slow', args: { ms: 200 } });
    // Each alone fits in 300 ms; the second waits 200 ms for the slot first.
    const [first, second] = await Promise.all([d.handle(slow(1), live), d.handle(slow(2), live)]);
    expect(first).toMatchObject({ ok: true });
    expect(second).toMatchObject({ ok: false, error: { code: 'timeout' } });

    const connecting = await memoryPool(500);
    const d2 = createCallDispatcher({
      pool: connecting,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits,
    });
    const t0 = performance.now();
    expect(
      await d2.handle(call(1, 'callTool', { server: 'mem', name: 'echo', args: { text: 'x' } }), live),
    ).toMatchObject({
      ok: false,
      error: { code: 'timeout', message: 'MCP call to "mem" timed out after 200 ms' },
    });
    expect(performance.now() - t0).toBeLessThan(450);
  });

  it('stops upstream work and rejects queued calls when the execution ends', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits: {
        maxMcpCalls: 5,
        maxConcurrentMcpCalls: 1,
        mcpCallTimeoutMs: 10_000,
        maxMcpReplyBytes: 1 << 20,
      },
    });
    const execution = new AbortController();
    const slow = (id: number) => call(id, 'callTool', { server: 'mem', name: 'slow', args: { ms: 5000 } });
    const replies = Promise.all([d.handle(slow(1), execution.signal), d.handle(slow(2), execution.signal)]);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    execution.abort();
    for (const reply of await replies) expect(reply).toMatchObject({ ok: false, error: { code: 'aborted' } });
    expect(performance.now() - t0).toBeLessThan(500);
    // The running call was cancelled at the upstream (notifications/cancelled); the queued one never started.
    await new Promise((r) => setTimeout(r, 50));
    expect(pool.cancelled).toHaveLength(1);
    expect(pool.started()).toBe(1);
    expect(await d.handle(slow(3), execution.signal)).toMatchObject({
      ok: false,
      error: { code: 'aborted' },
    });
  });

  it('classifies a timeout by the SDK error code, not by the words of an upstream error', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits,
    });
    const reply = await d.handle(
      call(1, 'readResource', { server: 'mem', uri: 'timeout://timed-out' }),
      live,
    );
    expect(reply).toMatchObject({ ok: false, error: { code: 'upstream' } });
    expect(!reply.ok && reply.error.message).toContain('timeout://timed-out');
  });

  it('passes the call’s trace context on: in each request’s _meta and to the pool (for HTTP headers)', async () => {
    const pool = await memoryPool();
    const d = createCallDispatcher({
      pool,
      allow: { servers: '*', tools: {}, resources: {}, prompts: {} },
      limits,
    });
    const trace = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01',
      tracestate: 'vendor=1',
    };
    expect(await d.handle(call(1, 'callTool', { server: 'mem', name: 'meta' }), live, trace)).toMatchObject({
      ok: true,
    });
    expect(
      await d.handle(call(2, 'readResource', { server: 'mem', uri: 'mem://readme' }), live, trace),
    ).toMatchObject({ ok: true });
    expect(await d.handle(call(3, 'callTool', { server: 'mem', name: 'meta' }), live)).toMatchObject({
      ok: true,
    });
    expect(pool.metas).toEqual([trace, trace, undefined]);
    expect(pool.traces).toEqual([trace, trace, undefined]);
  });
});

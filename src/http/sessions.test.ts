import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { describe, expect, it } from 'vitest';
import { createSessionStore, endResponseAt, onResponseEnd } from './sessions.js';

function session(tenant: string) {
  return {
    tenant,
    identity: `token ${tenant}`,
    server: new McpServer({ name: 't', version: '1' }),
    transport: new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined }),
  };
}

describe('session store', () => {
  it("at a tenant's cap closes its least recently used idle session; refuses when all are busy or the server is full", () => {
    let now = 1_000;
    const store = createSessionStore({ maxSessions: 3, idleTimeoutMs: 60_000, now: () => now });
    store.add('a1', session('a'));
    now = 1_100;
    store.add('a2', session('a'));
    now = 1_200;
    store.touch(store.get('a1')!);
    now = 1_500;
    // a2 was used last at 1100, a1 at 1200: a2 goes.
    expect(store.admit('a', 2)).toEqual({ evicted: { idleMs: 400 } });
    expect(store.get('a2')).toBeUndefined();
    expect(store.get('a1')).toBeDefined();
    // Busy sessions and reservations are never evicted.
    store.get('a1')!.busy = 1;
    const release = store.reserve('a');
    expect(store.admit('a', 2)).toMatchObject({ refusal: { status: 429 } });
    expect(store.get('a1')).toBeDefined();
    expect(store.admit('b', 2)).toEqual({ evicted: undefined });
    release();
    release(); // idempotent
    expect(store.admit('a', 2)).toEqual({ evicted: undefined });
    // The global cap is not a tenant's to make room in: another tenant's idle sessions stay.
    store.add('b1', session('b'));
    store.add('b2', session('b'));
    expect(store.admit('c', 2)).toEqual({
      refusal: { status: 503, message: 'too many open sessions on this server' },
    });
    expect(store.size).toBe(3);
    store.remove('b1');
    expect(store.admit('c', 2)).toEqual({ evicted: undefined });
    return store.closeAll(0);
  });

  it("ends a removed tenant's idle sessions at once and its busy ones when they answer, others untouched", () => {
    const store = createSessionStore({ maxSessions: 10, idleTimeoutMs: 60_000 });
    store.add('gone-idle', session('gone'));
    store.add('gone-busy', session('gone'));
    store.add('kept', session('kept'));
    const busy = store.get('gone-busy')!;
    busy.busy = 1;
    store.endTenant('gone');
    expect(store.get('gone-idle')).toBeUndefined();
    expect(store.get('gone-busy')).toBe(busy);
    busy.busy = 0;
    store.touch(busy);
    expect(store.get('gone-busy')).toBeUndefined();
    expect(store.get('kept')).toBeDefined();
    return store.closeAll(0);
  });

  it('closes sessions idle for longer than the timeout, but not one with a response in progress', () => {
    let now = 1_000;
    const store = createSessionStore({ maxSessions: 10, idleTimeoutMs: 500, now: () => now });
    store.add('idle', session('a'));
    store.add('busy', session('a'));
    store.add('fresh', session('a'));
    store.get('busy')!.busy = 1;
    now = 1_400;
    store.touch(store.get('fresh')!);
    now = 1_600;
    store.sweep();
    expect(store.get('idle')).toBeUndefined();
    expect(store.get('busy')).toBeDefined();
    expect(store.get('fresh')).toBeDefined();
    now = 2_000;
    store.sweep();
    expect(store.get('fresh')).toBeUndefined();
    expect(store.size).toBe(1);
    return store.closeAll(0);
  });
});

describe('onResponseEnd', () => {
  it('calls back once, after the body has been read to its end', async () => {
    let calls = 0;
    const res = onResponseEnd(new Response('hello', { status: 201, headers: { 'x-a': '1' } }), () => calls++);
    expect(res.status).toBe(201);
    expect(res.headers.get('x-a')).toBe('1');
    expect(calls).toBe(0);
    expect(await res.text()).toBe('hello');
    expect(calls).toBe(1);
  });

  it('calls back when the client goes away mid-stream', async () => {
    let calls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull: (c) => c.enqueue(new TextEncoder().encode('event\n')),
    });
    const res = onResponseEnd(new Response(body), () => calls++);
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect(calls).toBe(1);
  });
});

describe('endResponseAt', () => {
  it('ends an endless stream at the given time and cancels its source; a finished one passes through', async () => {
    let cancelled: unknown;
    const source = new ReadableStream<Uint8Array>({
      pull: async (c) => {
        await new Promise((r) => setTimeout(r, 20));
        c.enqueue(new TextEncoder().encode(': keepalive\n'));
      },
      cancel: (reason) => void (cancelled = reason),
    });
    const startedMs = Date.now();
    const res = endResponseAt(
      new Response(source, { headers: { 'content-type': 'text/event-stream' } }),
      startedMs + 150,
    );
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text();
    expect(Date.now() - startedMs).toBeGreaterThanOrEqual(140);
    expect(text).toContain(': keepalive');
    expect(cancelled).toBe('the access token expired');
    expect(await endResponseAt(new Response('done'), Date.now() + 60_000).text()).toBe('done');
  });
});

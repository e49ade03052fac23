import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { describe, expect, it } from 'vitest';
import { createSilentLogger } from '../obs/index.js';
import { createHttpApp, type HttpOptions } from './app.js';
import { createAuthenticator, localAuthenticator } from './auth.js';
import type { TenantEndpoint } from './types.js';

// sha256('acme-token')
const GLOBEX_SHA = '8f3b2db40c6028415aa52b8152bf9b16e8c59f782647d03c0bc920a8e1d6299d';
const ACME_SHA = '28daa606f54b368209e11244fd3d5612b41212e822258df22e55afe06a7bdae1';

function tenant(id: string): TenantEndpoint {
  return { id, maxSessions: 2, createServer: () => new McpServer({ name: 'test', version: '1' }) };
}

/** A tenant whose tool `hold` answers only once `release()` is called: its sessions stay busy until then. */
function holdingTenant(id: string) {
  let release = () => {};
  const held = new Promise<void>((r) => (release = r));
  const endpoint: TenantEndpoint = {
    id,
    maxSessions: 2,
    createServer: () => {
      const server = new McpServer({ name: 'test', version: '1' });
      server.registerTool('hold', { description: 'waits' }, async () => {
        await held;
        return { content: [{ type: 'text', text: 'done' }] };
      });
      return server;
    },
  };
  return { endpoint, release: () => release() };
}

function app(over: Partial<HttpOptions> = {}) {
  return createHttpApp({
    authenticate: localAuthenticator(tenant('local')),
    ready: () => Promise.resolve(undefined),
    metrics: { contentType: 'text/plain', render: () => Promise.resolve('m 1\n') },
    allowedHosts: ['127.0.0.1:8787', 'localhost:8787'],
    allowedOrigins: [],
    maxBodyBytes: 1024,
    stateless: false,
    maxSessions: 10,
    sessionIdleTimeoutMs: 60_000,
    logger: createSilentLogger(),
    ...over,
  });
}

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});
const rpcError = (message: string, code = -32000) => ({ jsonrpc: '2.0', error: { code, message }, id: null });
const mcpHeaders = {
  host: '127.0.0.1:8787',
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
};

describe('HTTP face (no ports)', () => {
  it('refuses a foreign Host and any unlisted Origin, null included; probes answer any Host', async () => {
    const { app: a } = app();
    expect((await a.request('/mcp', { method: 'POST', headers: { host: 'evil.example' } })).status).toBe(403);
    for (const origin of ['http://evil.example', 'null']) {
      const r = await a.request('/mcp', {
        method: 'POST',
        headers: { ...mcpHeaders, origin },
        body: initialize,
      });
      expect(r.status).toBe(403);
      expect(await r.json()).toEqual(rpcError('origin not allowed'));
    }
    expect((await a.request('/healthz', { headers: { host: '10.0.0.5' } })).status).toBe(200);
  });

  it("accepts the server's own loopback origins (no CORS needed), and no other loopback port or scheme", async () => {
    const { app: a } = app({
      allowedHosts: ['127.0.0.1:8787', 'localhost:8787', '[::1]:8787', 'localhost'],
      authenticate: localAuthenticator({ ...tenant('local'), maxSessions: 10 }),
    });
    const post = (origin: string) =>
      a.request('/mcp', { method: 'POST', headers: { ...mcpHeaders, origin }, body: initialize });
    for (const origin of [
      'http://localhost:8787',
      'http://127.0.0.1:8787',
      'http://[::1]:8787',
      'HTTP://LOCALHOST:8787',
    ]) {
      const r = await post(origin);
      expect(r.status, origin).toBe(200);
      expect(r.headers.get('access-control-allow-origin')).toBeNull();
    }
    for (const origin of [
      'http://localhost:8788',
      'http://localhost',
      'https://localhost:8787',
      'http://127.0.0.1.evil.example:8787',
    ]) {
      expect((await post(origin)).status, origin).toBe(403);
    }
  });

  it('keeps the readiness reason from callers that probe by IP', async () => {
    const { app: a } = app({ ready: () => Promise.resolve('image mcp-conductor-sandbox:x is missing') });
    const byIp = await a.request('/readyz', { headers: { host: '10.0.0.5' } });
    expect(byIp.status).toBe(503);
    expect(await byIp.json()).toEqual({ status: 'not ready' });
    const named = await a.request('/readyz', { headers: { host: '127.0.0.1:8787' } });
    expect(await named.json()).toEqual({
      status: 'not ready',
      reason: 'image mcp-conductor-sandbox:x is missing',
    });
  });

  it('answers CORS preflights for listed origins only, before authentication', async () => {
    const { app: a } = app({
      allowedOrigins: ['https://app.example'],
      authenticate: createAuthenticator({ tokens: [] }),
    });
    const pre = await a.request('/mcp', {
      method: 'OPTIONS',
      headers: {
        host: '127.0.0.1:8787',
        origin: 'https://app.example',
        'access-control-request-method': 'POST',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(pre.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
  });

  it('asks for a token with 401 and WWW-Authenticate; a session belongs to its tenant', async () => {
    const resolve = createAuthenticator({ tokens: [{ tokenSha256: ACME_SHA, value: tenant('acme') }] });
    const { app: a } = app({ authenticate: resolve });
    const none = await a.request('/mcp', { method: 'POST', headers: mcpHeaders, body: initialize });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(
      'Bearer realm="mcp-conductor", error="invalid_token", error_description="a bearer token is required"',
    );
    expect(await none.json()).toEqual(rpcError('a bearer token is required'));
    const wrong = await a.request('/mcp', {
      method: 'POST',
      headers: { ...mcpHeaders, authorization: 'Bearer not-a-token' },
      body: initialize,
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual(rpcError('the bearer token is not valid'));
    const acme = { ...mcpHeaders, authorization: 'Bearer acme-token' };
    const init = await a.request('/mcp', { method: 'POST', headers: acme, body: initialize });
    expect(init.status).toBe(200);
    const id = init.headers.get('mcp-session-id')!;
    await init.text();
    const other = createAuthenticator({
      tokens: [
        { tokenSha256: ACME_SHA, value: tenant('acme') },
        // sha256('globex-token')
        { tokenSha256: GLOBEX_SHA, value: tenant('globex') },
      ],
    });
    const shared = app({ authenticate: other });
    const opened = await shared.app.request('/mcp', { method: 'POST', headers: acme, body: initialize });
    const sid = opened.headers.get('mcp-session-id')!;
    await opened.text();
    const stolen = await shared.app.request('/mcp', {
      method: 'POST',
      headers: { ...mcpHeaders, authorization: 'Bearer globex-token', 'mcp-session-id': sid },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(stolen.status).toBe(403);
    expect(await stolen.json()).toEqual(rpcError('this session belongs to another tenant'));
    expect(id).not.toBe(sid);
  });

  it('opens a session on initialize, finds it by id, and refuses an unknown id with 404', async () => {
    const h = app();
    const a = h.app;
    const init = await a.request('/mcp', { method: 'POST', headers: mcpHeaders, body: initialize });
    expect(init.status).toBe(200);
    const id = init.headers.get('mcp-session-id');
    expect(id).toBeTruthy();
    await init.text();
    expect(h.sessionCount()).toBe(1);
    const unknown = await a.request('/mcp', {
      method: 'POST',
      headers: { ...mcpHeaders, 'mcp-session-id': 'nope' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual(rpcError('unknown or expired session', -32001));
    const gone = await a.request('/mcp', {
      method: 'DELETE',
      headers: { ...mcpHeaders, 'mcp-session-id': id! },
    });
    expect(gone.status).toBe(200);
    expect(h.sessionCount()).toBe(0);
  });

  it('makes room for a new session by closing the least recently used idle one of its tenant, never a busy one', async () => {
    const { endpoint, release } = holdingTenant('local');
    const h = app({ authenticate: localAuthenticator(endpoint) });
    const open = async () => {
      const r = await h.app.request('/mcp', { method: 'POST', headers: mcpHeaders, body: initialize });
      await r.text();
      expect(r.status).toBe(200);
      return r.headers.get('mcp-session-id')!;
    };
    const post = (id: string, body: object) =>
      h.app.request('/mcp', {
        method: 'POST',
        headers: { ...mcpHeaders, 'mcp-session-id': id },
        body: JSON.stringify({ jsonrpc: '2.0', ...body }),
      });
    const pause = () => new Promise((r) => setTimeout(r, 5));
    // One-shot clients: each opens a session and leaves without DELETE.
    const first = await open();
    await pause();
    const second = await open();
    await pause();
    await (await post(first, { id: 2, method: 'ping' })).text(); // first is now the more recently used
    await pause();
    const third = await open();
    expect(h.sessionCount()).toBe(2);
    expect((await post(second, { id: 3, method: 'ping' })).status).toBe(404);
    const stillThere = await post(first, { id: 4, method: 'ping' });
    expect(stillThere.status).toBe(200);
    await stillThere.text();

    // Two calls in progress: neither session is idle, so a new one is refused as before.
    const call = (id: string) =>
      post(id, { id: 5, method: 'tools/call', params: { name: 'hold', arguments: {} } });
    const calls = await Promise.all([call(first), call(third)]);
    const refused = await h.app.request('/mcp', { method: 'POST', headers: mcpHeaders, body: initialize });
    expect(refused.status).toBe(429);
    expect(await refused.json()).toEqual(
      rpcError(
        expect.stringContaining(
          'tenant local has 2 open sessions, its limit, each with a request in progress',
        ) as string,
      ),
    );
    release();
    for (const c of calls) expect(await c.text()).toContain('done');
    await open();
    expect(h.sessionCount()).toBe(2);
    await h.close();
  });

  it('caps bodies with 413 and, once stopping, answers 503 on /mcp and /readyz', async () => {
    const h = app();
    const big = await h.app.request('/mcp', { method: 'POST', headers: mcpHeaders, body: 'x'.repeat(2048) });
    expect(big.status).toBe(413);
    expect(await big.json()).toEqual(rpcError('request body too large'));
    h.stopAccepting();
    const stopping = await h.app.request('/mcp', { method: 'POST', headers: mcpHeaders, body: initialize });
    expect(stopping.status).toBe(503);
    expect(await stopping.json()).toEqual(rpcError('shutting down: not accepting new requests'));
    expect((await h.app.request('/readyz', { headers: { host: '127.0.0.1:8787' } })).status).toBe(503);
    await h.close();
  });

  it('answers every refusal from /mcp with a JSON-RPC error body; other paths keep { error }', async () => {
    const h = app();
    const host = await h.app.request('/mcp', {
      method: 'POST',
      headers: { ...mcpHeaders, host: 'evil.example' },
    });
    expect(host.status).toBe(403);
    expect(await host.json()).toEqual(rpcError('host not allowed'));
    const get = await h.app.request('/mcp', { method: 'GET', headers: mcpHeaders });
    expect(get.status).toBe(400);
    expect(await get.json()).toEqual(rpcError('a new session starts with an initialize POST'));
    const third = await h.app.request('/mcp', {
      method: 'POST',
      headers: { ...mcpHeaders, 'mcp-session-id': 'nope' },
      body: '{}',
    });
    expect(third.status).toBe(404);
    expect(await third.json()).toEqual(rpcError('unknown or expired session', -32001));
    const elsewhere = await h.app.request('/nowhere', { headers: { host: '127.0.0.1:8787' } });
    expect(elsewhere.status).toBe(404);
    expect(await elsewhere.json()).toEqual({ error: 'not found' });
    // without an identity provider there is no metadata to publish
    const wellKnown = await h.app.request('/.well-known/oauth-protected-resource', {
      headers: { host: '127.0.0.1:8787' },
    });
    expect(wellKnown.status).toBe(404);
    await h.close();
  });

  it('publishes OAuth metadata for the Host asked when no resource is configured, with CORS for listed origins', async () => {
    const { app: a } = app({
      protectedResource: { authorizationServers: ['https://idp.example'], scopesSupported: [] },
      allowedOrigins: ['https://app.example'],
      authenticate: createAuthenticator({ tokens: [] }),
    });
    const meta = await a.request('/.well-known/oauth-protected-resource/mcp', {
      headers: { host: 'localhost:8787', origin: 'https://app.example' },
    });
    expect(meta.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(await meta.json()).toEqual({
      resource: 'http://localhost:8787/mcp',
      authorization_servers: ['https://idp.example'],
      scopes_supported: [],
      bearer_methods_supported: ['header'],
    });
    const none = await a.request('/mcp', {
      method: 'POST',
      headers: { ...mcpHeaders, host: 'localhost:8787' },
    });
    expect(none.headers.get('www-authenticate')).toContain(
      'resource_metadata="http://localhost:8787/.well-known/oauth-protected-resource"',
    );
    const foreign = await a.request('/.well-known/oauth-protected-resource', {
      headers: { host: 'localhost:8787', origin: 'https://evil.example' },
    });
    expect(foreign.status).toBe(403);
  });

  it('serves /metrics to an accepted Host only', async () => {
    const { app: a } = app();
    expect(await (await a.request('/metrics', { headers: { host: '127.0.0.1:8787' } })).text()).toBe('m 1\n');
    expect((await a.request('/metrics', { headers: { host: '10.0.0.5' } })).status).toBe(403);
  });

  it('with a metrics token, /metrics answers only to that bearer token', async () => {
    const { app: a } = app({ metricsAuth: (authorization) => authorization === 'Bearer scrape' });
    const scrape = (authorization?: string) =>
      a.request('/metrics', {
        headers: { host: '127.0.0.1:8787', ...(authorization ? { authorization } : {}) },
      });
    for (const authorization of [undefined, 'Bearer wrong', 'Basic c2NyYXBl']) {
      const refused = await scrape(authorization);
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toBe('Bearer realm="mcp-conductor metrics"');
      expect(await refused.text()).not.toContain('m 1');
    }
    expect(await (await scrape('Bearer scrape')).text()).toBe('m 1\n');
  });
});

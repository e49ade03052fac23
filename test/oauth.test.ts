import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import { clientSecret, startOidcServer, type OidcServer } from './fixtures/oidc-server.js';
import { startTestIssuer, type TestIssuer } from './fixtures/token-issuer.js';
import { expectNoLeftovers, fixturePolicy, freePort, startHttpServer } from './helpers.js';

// A real authorization server (oidc-provider, client credentials) and a jose-minted one on loopback, the real
// `serve`, and the SDK's own client sending the token: through its OAuth provider, and as a plain header.

const docker = inject('docker');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mcpHeaders = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const ping = JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'ping' });
const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

describe.skipIf(!docker)('serve behind an identity provider', () => {
  let server: Awaited<ReturnType<typeof startHttpServer>>;
  let oidc: OidcServer;
  let minted: TestIssuer;
  let workspace: string;
  let resource: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mcpc-oauth-'));
    workspace = join(dir, 'ws');
    const port = await freePort();
    resource = `http://127.0.0.1:${port}/mcp`;
    oidc = await startOidcServer(await freePort(), resource, [
      { clientId: 'acme-agent', tenant: 'acme' },
      { clientId: 'globex-agent', tenant: 'globex' },
      { clientId: 'stranger' },
    ]);
    minted = await startTestIssuer('RS256');
    const readOnly = join(dir, 'read-only.json');
    await writeFile(
      readOnly,
      JSON.stringify({
        deno: { permissions: { read: ['/workspace'], write: ['/workspace'] } },
        container: { memoryMb: 128, pidsLimit: 64, tmpfsMb: 8 },
        workspace: { mode: 'ro' },
      }),
    );
    const tenants = join(dir, 'tenants.json');
    await writeFile(
      tenants,
      JSON.stringify({
        oauth: {
          audience: resource,
          requiredScopes: ['mcp:run'],
          // no skew, so an expiry a few seconds away can be waited out
          clockSkewSeconds: 0,
          issuers: [
            { issuer: oidc.issuer, tenantClaim: 'tenant' },
            { issuer: minted.issuer, jwksUri: minted.jwksUri, tenantClaim: 'sub' },
          ],
        },
        tenants: [
          { id: 'acme', policy: fixturePolicy('small') },
          { id: 'globex', policy: readOnly },
          { id: 'beta', tokenSha256: createHash('sha256').update('beta-token').digest('hex') },
        ],
      }),
    );
    server = await startHttpServer(
      { MCP_CONDUCTOR_TENANTS: tenants, MCP_CONDUCTOR_WORKSPACE: workspace, MCP_CONDUCTOR_POOL_SIZE: '0' },
      [],
      port,
    );
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server?.stop();
    await Promise.all([oidc?.close(), minted?.close()]);
    await expectNoLeftovers();
  });

  async function connect(auth: { token?: string; provider?: ClientCredentialsProvider }) {
    const client = new Client({ name: 'oauth-test', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(resource), {
      ...(auth.provider ? { authProvider: auth.provider } : {}),
      requestInit: { headers: auth.token ? { Authorization: `Bearer ${auth.token}` } : {} },
    });
    await client.connect(transport);
    clients.push(client);
    const run = async (code: string) =>
      ((await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code } })) as CallToolResult)
        .structuredContent as ExecutionResult;
    return { client, transport, run };
  }

  /** a token of the second issuer for `sub` acme, with the required scope unless the claims say otherwise */
  const mint = (claims: Record<string, unknown> = {}, options = {}) =>
    minted.mint({ aud: resource, sub: 'acme', scope: 'mcp:run', ...claims }, options);

  const post = (token: string | undefined, body = initialize, sessionId?: string) =>
    fetch(resource, {
      method: 'POST',
      body,
      headers: {
        ...mcpHeaders,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
      },
    });

  it('publishes the protected resource metadata naming both authorization servers', async () => {
    const base = resource.replace(/\/mcp$/, '');
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const r = await fetch(`${base}${path}`);
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({
        resource,
        authorization_servers: [oidc.issuer, minted.issuer],
        scopes_supported: ['mcp:run'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('tells a client without a token where to authorize, in the header and a JSON-RPC body', async () => {
    const r = await post(undefined);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(
      `Bearer error="invalid_token", error_description="a bearer token is required", resource_metadata="${resource.replace(/\/mcp$/, '')}/.well-known/oauth-protected-resource"`,
    );
    expect(await r.json()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'a bearer token is required' },
      id: null,
    });
    // the SDK client says why
    await expect(connect({})).rejects.toMatchObject({
      code: 401,
      message: expect.stringContaining('"message":"a bearer token is required"') as string,
    });
  });

  it("runs an SDK client that authorizes itself (client credentials) as its tenant, in that tenant's workspace", async () => {
    const provider = new ClientCredentialsProvider({
      clientId: 'acme-agent',
      clientSecret: clientSecret('acme-agent'),
      expectedIssuer: oidc.issuer,
      // the SDK's client-credentials flow asks for this scope only (not the metadata's scopes_supported)
      scope: 'mcp:run',
    });
    const acme = await connect({ provider });
    expect(provider.tokens()?.access_token).toMatch(/^ey/);
    const wrote = await acme.run("await Deno.writeTextFile('/workspace/who.txt', 'acme'); 'ok'");
    expect(wrote.returnValue).toBe('ok');
    expect(await readFile(join(workspace, 'acme', 'who.txt'), 'utf8')).toBe('acme');
  });

  it("runs a token sent as a header with its own tenant's policy: globex's workspace is read-only and its own", async () => {
    const globex = await connect({ token: await oidc.token('globex-agent') });
    const r = await globex.run(`
let write = 'allowed';
try { await Deno.writeTextFile('/workspace/x.txt', 'x'); } catch (e) { write = e.name; }
let read = 'found';
try { await Deno.readTextFile('/workspace/who.txt'); } catch (e) { read = e.name; }
({ write, read })`);
    expect(r.returnValue).toEqual({ write: 'NotCapable', read: 'NotFound' });
  });

  it("refuses a token for tenant A on tenant B's session, and a known token's other identity", async () => {
    const acme = await connect({ token: await oidc.token('acme-agent') });
    const sid = acme.transport.sessionId!;
    const stolen = await post(await oidc.token('globex-agent'), ping, sid);
    expect(stolen.status).toBe(403);
    expect(await stolen.json()).toMatchObject({
      error: { message: 'this session belongs to another tenant' },
    });
    // same tenant (acme) through the other issuer: another identity
    const other = await post(await mint(), ping, sid);
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({
      error: { message: 'this session belongs to another identity' },
    });
    expect((await post(await oidc.token('acme-agent'), ping, sid)).status).toBe(200);
  });

  it('refuses wrong audience, expired, unsigned, HMAC-confused and foreign tokens with 401 invalid_token', async () => {
    const foreign = await startTestIssuer();
    const claims = { aud: resource, sub: 'acme', scope: 'mcp:run' };
    const jwk = ((await (await fetch(minted.jwksUri)).json()) as { keys: unknown[] }).keys[0];
    const cases: [string, string, RegExp][] = [
      ['wrong audience', await mint({ aud: 'http://127.0.0.1:1/mcp' }), /"aud" claim/],
      ['expired', await mint({}, { expiresInSeconds: -5 }), /expired/],
      [
        'alg none',
        new UnsecuredJWT({ ...claims, iss: minted.issuer }).setExpirationTime('5m').encode(),
        /accepted algorithm/,
      ],
      [
        'HS256 keyed with the public key',
        await new SignJWT({ ...claims, iss: minted.issuer })
          .setProtectedHeader({ alg: 'HS256', kid: minted.currentKid() })
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode(JSON.stringify(jwk))),
        /accepted algorithm/,
      ],
      ['foreign issuer', await foreign.mint(claims), /issuer is not one this server trusts/],
      ['foreign key, our issuer', await foreign.mint({ ...claims, iss: minted.issuer }), /no key/],
    ];
    await foreign.close();
    for (const [name, token, why] of cases) {
      const r = await post(token);
      expect(r.status, name).toBe(401);
      expect(r.headers.get('www-authenticate'), name).toMatch(
        /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource"$/,
      );
      expect(((await r.json()) as { error: { message: string } }).error.message, name).toMatch(why);
    }
    // the SDK client, given such a token, fails with the reason
    await expect(connect({ token: cases[1]![1] })).rejects.toMatchObject({
      code: 401,
      message: expect.stringContaining('"message":"the token has expired"') as string,
    });
  });

  it('answers a token without the scope with 403 insufficient_scope, and a client without a tenant with 403', async () => {
    const scopeless = await post(await mint({ scope: 'openid' }));
    expect(scopeless.status).toBe(403);
    expect(scopeless.headers.get('www-authenticate')).toMatch(
      /^Bearer error="insufficient_scope", error_description="the token lacks the scope mcp:run", scope="mcp:run", resource_metadata="/,
    );
    const stranger = await post(await oidc.token('stranger'));
    expect(stranger.status).toBe(403);
    expect(await stranger.json()).toMatchObject({
      error: {
        message: 'the token is valid, but its "tenant" claim (absent) names no tenant of this server',
      },
    });
  });

  it('keeps static tokens working beside the identity provider', async () => {
    const beta = await connect({ token: 'beta-token' });
    expect((await beta.client.listTools()).tools.map((t) => t.name)).toContain('run_deno_code');
  });

  it('accepts a rotated key after the JWKS is fetched again, and then refuses the retired one', async () => {
    const before = await post(await mint());
    expect(before.status).toBe(200);
    const retired = await minted.rotate();
    const fetches = minted.jwksFetches();
    // the conductor refetches an unknown kid's key set at most every 5 s
    await sleep(5_200);
    expect((await post(await mint())).status).toBe(200);
    expect(minted.jwksFetches()).toBe(fetches + 1);
    const old = await post(await mint({}, { kid: retired }));
    expect(old.status).toBe(401);
    expect(await old.json()).toMatchObject({
      error: { message: expect.stringMatching(/retired kid/) as string },
    });
  });

  it("ends a session's authority with its token: a late request needs a fresh token, a standing stream closes", async () => {
    const short = await mint({}, { expiresInSeconds: 3 });
    const opened = await post(short);
    expect(opened.status).toBe(200);
    const sid = opened.headers.get('mcp-session-id')!;
    await opened.text();
    const stream = await fetch(resource, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${short}`, 'mcp-session-id': sid },
    });
    expect(stream.status).toBe(200);
    const startedMs = Date.now();
    await stream.text();
    expect(Date.now() - startedMs).toBeLessThan(5_000);
    await sleep(500);
    const late = await post(short, ping, sid);
    expect(late.status).toBe(401);
    expect(await late.json()).toMatchObject({ error: { message: 'the token has expired' } });
    const fresh = await post(await mint(), ping, sid);
    expect(fresh.status).toBe(200);
  });
});

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SignJWT, UnsecuredJWT } from 'jose';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test/helpers.js';
import { startTestIssuer, type TestIssuer } from '../../test/fixtures/token-issuer.js';
import { validateConfig } from '../config/json-config.js';
import { TenantsFileSchema } from '../config/tenants.js';
import { createSilentLogger } from '../obs/index.js';
import { createHttpApp } from './app.js';
import { createAuthenticator } from './auth.js';
import { createOAuthVerifier } from './oauth.js';
import { createTenantsAuthentication } from './tenant-auth.js';
import type { TenantEndpoint } from './types.js';

// Real keys, real signatures and a real JWKS/discovery endpoint on loopback; the HTTP face through app.request().

const AUDIENCE = 'http://127.0.0.1:8787/mcp';
const METADATA = 'http://127.0.0.1:8787/.well-known/oauth-protected-resource';
const BETA_SHA = createHash('sha256').update('beta-token').digest('hex');

const endpoint = (id: string): TenantEndpoint => ({
  id,
  maxSessions: 8,
  // the server's name is the tenant's id, so an initialize answer says which tenant it reached
  createServer: () => new McpServer({ name: id, version: '1' }),
});

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
});
const ping = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' });
const headers = (token?: string, sessionId?: string) => ({
  host: '127.0.0.1:8787',
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  ...(token ? { authorization: `Bearer ${token}` } : {}),
  ...(sessionId ? { 'mcp-session-id': sessionId } : {}),
});

function appFor(file: unknown) {
  const parsed = validateConfig(TenantsFileSchema, file, 'tenants file');
  const endpoints = new Map(parsed.tenants.map((t) => [t.id, endpoint(t.id)]));
  return createHttpApp({
    ...createTenantsAuthentication(parsed, endpoints),
    ready: () => Promise.resolve(undefined),
    metrics: { contentType: 'text/plain', render: () => Promise.resolve('') },
    allowedHosts: ['127.0.0.1:8787'],
    allowedOrigins: [],
    maxBodyBytes: 1 << 20,
    stateless: false,
    maxSessions: 100,
    sessionIdleTimeoutMs: 60_000,
    logger: createSilentLogger(),
  });
}

describe('OAuth resource server (real jose keys, loopback JWKS)', () => {
  let idp: TestIssuer;
  let other: TestIssuer;
  let foreign: TestIssuer;
  let http: ReturnType<typeof appFor>;
  const post = (token: string | undefined, body = initialize, sessionId?: string) =>
    http.app.request('/mcp', { method: 'POST', headers: headers(token, sessionId), body });

  beforeAll(async () => {
    [idp, other, foreign] = await Promise.all([
      startTestIssuer('ES256'),
      startTestIssuer('RS256'),
      startTestIssuer(),
    ]);
    http = appFor({
      oauth: {
        audience: AUDIENCE,
        tenantClaim: 'tenant',
        requiredScopes: ['mcp:run'],
        issuers: [
          { issuer: idp.issuer },
          { issuer: other.issuer, jwksUri: other.jwksUri, tenantClaim: 'azp', requiredScopes: [] },
        ],
      },
      tenants: [{ id: 'acme' }, { id: 'globex' }, { id: 'beta', tokenSha256: BETA_SHA }],
    });
  });
  afterAll(async () => {
    await http.close();
    await Promise.all([idp.close(), other.close(), foreign.close()]);
  });

  const acmeToken = (claims = {}, options = {}) =>
    idp.mint({ aud: AUDIENCE, sub: 'user-1', tenant: 'acme', scope: 'openid mcp:run', ...claims }, options);

  async function refusal(token: string | undefined) {
    const r = await post(token);
    const body = (await r.json()) as { error: { message: string } };
    return { status: r.status, challenge: r.headers.get('www-authenticate'), message: body.error.message };
  }

  it('publishes RFC 9728 metadata at both well-known addresses', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const r = await http.app.request(path, { headers: { host: '127.0.0.1:8787' } });
      expect(r.status).toBe(200);
      expect(await r.json()).toEqual({
        resource: AUDIENCE,
        authorization_servers: [idp.issuer, other.issuer],
        scopes_supported: ['mcp:run'],
        bearer_methods_supported: ['header'],
      });
    }
  });

  it('asks for a missing token with 401, invalid_token and the metadata address', async () => {
    expect(await refusal(undefined)).toEqual({
      status: 401,
      challenge: `Bearer error="invalid_token", error_description="a bearer token is required", resource_metadata="${METADATA}"`,
      message: 'a bearer token is required',
    });
  });

  it('lets a valid token in as the tenant its claim names, discovering the keys once', async () => {
    const r = await post(await acmeToken());
    expect(r.status).toBe(200);
    expect(await r.text()).toContain('"serverInfo":{"name":"acme"');
    const viaAzp = await post(await other.mint({ aud: AUDIENCE, sub: 'svc', azp: 'globex' }));
    expect(await viaAzp.text()).toContain('"serverInfo":{"name":"globex"');
    await post(await acmeToken());
    expect(idp.jwksFetches()).toBe(1);
    // a static token beside them
    const beta = await http.app.request('/mcp', {
      method: 'POST',
      headers: headers('beta-token'),
      body: initialize,
    });
    expect(beta.status).toBe(200);
    expect(await beta.text()).toContain('"serverInfo":{"name":"beta"');
  });

  it.each([
    [
      'another audience',
      () => acmeToken({ aud: 'https://elsewhere.example/mcp' }),
      /unexpected "aud" claim value/,
    ],
    ['expired past the skew', () => acmeToken({}, { expiresInSeconds: -120 }), /the token has expired/],
    ['not yet valid', () => acmeToken({}, { notBeforeInSeconds: 600 }), /"nbf" claim timestamp check failed/],
    ['without exp', () => acmeToken({}, { expiresInSeconds: null }), /missing required "exp" claim/],
    [
      'from a foreign issuer',
      () => foreign.mint({ aud: AUDIENCE, sub: 'user-1', tenant: 'acme', scope: 'mcp:run' }),
      /issuer is not one this server trusts/,
    ],
    [
      'naming our issuer but signed by a foreign key',
      () => foreign.mint({ iss: idp.issuer, aud: AUDIENCE, sub: 'user-1', tenant: 'acme', scope: 'mcp:run' }),
      /no key of the issuer's key set matches/,
    ],
    ['not a JWT at all', () => Promise.resolve('garbage'), /neither a known token nor a JWT/],
  ])('refuses a token %s with 401 invalid_token', async (_, token, message) => {
    const r = await refusal(await token());
    expect(r.status).toBe(401);
    expect(r.message).toMatch(message);
    expect(r.challenge).toMatch(
      /^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="/,
    );
  });

  it('accepts a token expired by less than the clock skew', async () => {
    expect((await post(await acmeToken({}, { expiresInSeconds: -10 }))).status).toBe(200);
  });

  it('refuses alg none and an HMAC signed with the public key (algorithm confusion)', async () => {
    const claims = { iss: idp.issuer, aud: AUDIENCE, sub: 'user-1', tenant: 'acme', scope: 'mcp:run' };
    const unsigned = new UnsecuredJWT(claims).setExpirationTime('5m').encode();
    expect(await refusal(unsigned)).toMatchObject({
      status: 401,
      message: 'the token is not signed with an accepted algorithm (asymmetric signatures only)',
    });
    const jwks = (await (await fetch(`${idp.issuer}/jwks`)).json()) as { keys: unknown[] };
    const secret = new TextEncoder().encode(JSON.stringify(jwks.keys[0]));
    const hmac = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', kid: idp.currentKid() })
      .setExpirationTime('5m')
      .sign(secret);
    expect(await refusal(hmac)).toMatchObject({
      status: 401,
      message: expect.stringMatching(/accepted algorithm/) as string,
    });
  });

  it('answers a token without the required scope with 403 insufficient_scope', async () => {
    expect(await refusal(await acmeToken({ scope: 'openid' }))).toEqual({
      status: 403,
      challenge: `Bearer error="insufficient_scope", error_description="the token lacks the scope mcp:run", scope="mcp:run", resource_metadata="${METADATA}"`,
      message: 'the token lacks the scope mcp:run',
    });
    // `scp` as Entra ID and Okta write it
    expect((await post(await acmeToken({ scope: undefined, scp: ['mcp:run'] }))).status).toBe(200);
  });

  it('refuses a valid token whose claim names no tenant (no default tenant configured)', async () => {
    const r = await refusal(await acmeToken({ tenant: 'initech' }));
    expect(r).toMatchObject({
      status: 403,
      challenge: null,
      message: expect.stringContaining('"tenant" claim ("initech") names no tenant') as string,
    });
    expect((await refusal(await acmeToken({ tenant: ['acme'] }))).message).toContain('claim (not a string)');
    expect((await refusal(await acmeToken({ tenant: undefined }))).message).toContain('claim (absent)');
  });

  it('binds a session to the identity that opened it; an expired token ends its authority', async () => {
    const opened = await post(await acmeToken());
    const sid = opened.headers.get('mcp-session-id')!;
    await opened.text();
    // same tenant, another user
    const colleague = await post(await acmeToken({ sub: 'user-2' }), ping, sid);
    expect(colleague.status).toBe(403);
    expect(await colleague.json()).toMatchObject({
      error: { message: 'this session belongs to another identity' },
    });
    const globex = await post(await other.mint({ aud: AUDIENCE, sub: 'svc', azp: 'globex' }), ping, sid);
    expect(globex.status).toBe(403);
    const expired = await post(await acmeToken({}, { expiresInSeconds: -60 }), ping, sid);
    expect(expired.status).toBe(401);
    const fresh = await post(await acmeToken(), ping, sid);
    expect(fresh.status).toBe(200);
    expect(await fresh.text()).toContain('"result":{}');
  });

  it('says 503 (no challenge) while the authorization server cannot be reached', async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const h = appFor({
      oauth: { issuer: down, audience: AUDIENCE },
      tenants: [{ id: 'acme' }],
    });
    const token = await idp.mint({ iss: down, aud: AUDIENCE, sub: 'acme' });
    const r = await h.app.request('/mcp', { method: 'POST', headers: headers(token), body: initialize });
    expect(r.status).toBe(503);
    expect(r.headers.get('www-authenticate')).toBeNull();
    expect(await r.json()).toMatchObject({
      error: {
        message: expect.stringContaining(
          `the token cannot be checked now: ${down}/.well-known/openid-configuration: unreachable`,
        ) as string,
      },
    });
  });

  it('gives an unknown identity the default tenant when one is configured', async () => {
    const h = appFor({
      oauth: { issuer: idp.issuer, audience: AUDIENCE, defaultTenant: 'guest' },
      tenants: [{ id: 'guest' }, { id: 'acme' }],
    });
    const r = await h.app.request('/mcp', {
      method: 'POST',
      headers: headers(await idp.mint({ aud: AUDIENCE, sub: 'someone' })),
      body: initialize,
    });
    expect(await r.text()).toContain('"serverInfo":{"name":"guest"');
    const mapped = await h.app.request('/mcp', {
      method: 'POST',
      headers: headers(await idp.mint({ aud: AUDIENCE, sub: 'acme' })),
      body: initialize,
    });
    expect(await mapped.text()).toContain('"serverInfo":{"name":"acme"');
    await h.close();
  });
});

describe('key rotation', () => {
  it('refuses a retired kid once the key set is fetched again, and accepts the new key after the refresh', async () => {
    const idp = await startTestIssuer('ES256');
    const verifier = createOAuthVerifier(
      [
        {
          issuer: idp.issuer,
          audience: ['aud'],
          tenantClaim: 'sub',
          requiredScopes: [],
          algorithms: ['ES256'],
        },
      ],
      { clockSkewSeconds: 0, jwksCooldownMs: 1_000 },
    );
    const authenticate = createAuthenticator({
      tokens: [],
      oauth: { verifier, tenants: new Map([['acme', endpoint('acme')]]) },
    });
    const as = async (token: string) => {
      const r = await authenticate(`Bearer ${token}`);
      return r.caller?.endpoint.id ?? r.refusal?.message;
    };
    const oldToken = await idp.mint({ aud: 'aud', sub: 'acme' });
    expect(await as(oldToken)).toBe('acme');
    const retired = await idp.rotate();
    const newToken = await idp.mint({ aud: 'aud', sub: 'acme' });
    // within the cooldown the new kid is not fetched yet
    expect(await as(newToken)).toMatch(/unknown or retired kid/);
    await new Promise((r) => setTimeout(r, 1_050));
    expect(await as(newToken)).toBe('acme');
    expect(idp.jwksFetches()).toBe(2);
    expect(await as(await idp.mint({ aud: 'aud', sub: 'acme' }, { kid: retired }))).toMatch(
      /unknown or retired kid/,
    );
    await idp.close();
  });
});

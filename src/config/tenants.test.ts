import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { validateConfig } from './json-config.js';
import { ASYMMETRIC_ALGORITHMS, configuredResource } from './oauth.js';
import { TenantsFileSchema } from './tenants.js';

const SHA = 'a'.repeat(64);

function problems(json: unknown): string[] {
  try {
    validateConfig(TenantsFileSchema, json, 'tenants file t.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message.split('\n').slice(1);
  }
  return [];
}

const parse = (json: unknown) => validateConfig(TenantsFileSchema, json, 'tenants file t.json');

describe('tenants file with an oauth section', () => {
  it("reads the design's example: one issuer, shared fields, an OAuth tenant beside a static one", () => {
    const file = parse({
      oauth: {
        issuer: 'https://idp.example.com/realms/agents',
        jwksUri: 'https://idp.example.com/realms/agents/certs',
        audience: 'https://mcp.example.com/mcp',
        tenantClaim: 'tenant',
        requiredScopes: ['mcp:run'],
      },
      tenants: [
        { id: 'acme', policy: 'default' },
        { id: 'beta', tokenSha256: SHA },
      ],
    });
    expect(file.oauth).toEqual({
      issuers: [
        {
          issuer: 'https://idp.example.com/realms/agents',
          jwksUri: 'https://idp.example.com/realms/agents/certs',
          audience: ['https://mcp.example.com/mcp'],
          tenantClaim: 'tenant',
          requiredScopes: ['mcp:run'],
          algorithms: [...ASYMMETRIC_ALGORITHMS],
        },
      ],
      clockSkewSeconds: 30,
    });
    expect(configuredResource(file.oauth!)).toBe('https://mcp.example.com/mcp');
    expect(file.tenants[0]).toMatchObject({ id: 'acme', policy: 'default', servers: [] });
    expect(file.tenants[0]!.tokenSha256).toBeUndefined();
  });

  it('takes several issuers, each overriding the shared fields, defaulting tenantClaim to sub', () => {
    const file = parse({
      oauth: {
        audience: 'mcp-conductor',
        requiredScopes: ['mcp'],
        issuers: [
          { issuer: 'https://a.example' },
          {
            issuer: 'http://127.0.0.1:9000',
            jwksUri: 'http://127.0.0.1:9000/jwks',
            tenantClaim: 'azp',
            audience: ['x', 'y'],
            algorithms: ['ES256'],
          },
        ],
        defaultTenant: 'guest',
        resource: 'https://mcp.example.com/mcp',
        clockSkewSeconds: 5,
      },
      tenants: [{ id: 'guest' }],
    });
    expect(
      file.oauth?.issuers.map((i) => [i.issuer, i.tenantClaim, i.audience, i.algorithms.length]),
    ).toEqual([
      ['https://a.example', 'sub', ['mcp-conductor'], ASYMMETRIC_ALGORITHMS.length],
      ['http://127.0.0.1:9000', 'azp', ['x', 'y'], 1],
    ]);
    expect(file.oauth?.issuers[1]?.requiredScopes).toEqual(['mcp']);
    expect(file.oauth).toMatchObject({ defaultTenant: 'guest', clockSkewSeconds: 5 });
    expect(configuredResource(file.oauth!)).toBe('https://mcp.example.com/mcp');
  });

  it('finds no resource when no audience is a URL and none is given', () => {
    const file = parse({
      oauth: { issuer: 'https://a.example', audience: 'mcp-conductor' },
      tenants: [{ id: 'acme' }],
    });
    expect(configuredResource(file.oauth!)).toBeUndefined();
  });

  it('refuses plain http off loopback, symmetric or unknown algorithms, and a missing audience', () => {
    expect(
      problems({
        oauth: {
          issuer: 'http://idp.example.com',
          jwksUri: 'ftp://idp.example.com/jwks',
          algorithms: ['HS256', 'none'],
        },
        tenants: [{ id: 'acme' }],
      }),
    ).toEqual([
      '- oauth.issuer: http:// is accepted only on loopback (localhost, 127.0.0.0/8, [::1]); use https://',
      '- oauth.jwksUri: expected an https:// URL',
      expect.stringMatching(/^- oauth\.algorithms\[0\]: Invalid option: expected one of "RS256"/),
      expect.stringMatching(/^- oauth\.algorithms\[1\]: Invalid option/),
    ]);
    expect(
      problems({ oauth: { issuer: 'http://localhost:8080/realms/x' }, tenants: [{ id: 'acme' }] }),
    ).toEqual([
      '- oauth.audience: required: the audience (aud) tokens for this server carry, e.g. its /mcp URL',
    ]);
  });

  it('is strict: unknown fields, both issuer forms, duplicate issuers, a dangling defaultTenant', () => {
    expect(
      problems({
        oauth: {
          issuer: 'https://a.example',
          issuers: [
            { issuer: 'https://b.example', audience: 'x', secret: 'no' },
            { issuer: 'https://b.example', audience: 'x' },
          ],
          jwksUri: 'https://a.example/jwks',
          audiance: 'typo',
          defaultTenant: 'nobody',
        },
        tenants: [{ id: 'acme' }],
      }),
    ).toEqual([
      '- oauth.issuers[0]: Unrecognized key: "secret"',
      '- oauth: Unrecognized key: "audiance"',
      '- oauth.issuer: give either "issuer" or "issuers", not both',
      '- oauth.jwksUri: with "issuers", give each issuer its own jwksUri',
      '- oauth.issuers[1].issuer: duplicate issuer https://b.example',
      '- oauth.defaultTenant: names no tenant of this file: "nobody"',
    ]);
  });

  it('refuses a tenant that nothing could reach, duplicate ids and shared tokens', () => {
    expect(
      problems({
        tenants: [{ id: 'acme', tokenSha256: SHA }, { id: 'acme', tokenSha256: SHA }, { id: 'beta' }],
      }),
    ).toEqual([
      '- tenants[1].id: duplicate tenant id "acme"',
      '- tenants[1].tokenSha256: two tenants share a token',
      '- tenants[2].tokenSha256: tenant "beta" has no tokenSha256 and the file has no "oauth" section: nothing could reach it',
    ]);
  });
});

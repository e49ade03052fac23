import { createHash, timingSafeEqual } from 'node:crypto';
import type { OAuthVerifier } from './oauth.js';
import type { Authenticate, AuthRefusal, TenantEndpoint } from './types.js';

export interface TokenEntry<T> {
  tokenSha256: string;
  value: T;
}

/** The token of an `Authorization: Bearer <token>` header; undefined for any other form. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
}

/**
 * Resolves a bearer token to its tenant by comparing SHA-256 digests in constant time, against every entry
 * (no early exit), so timing reveals neither which tenant matched nor how much of a hash did.
 */
export function createTokenResolver<T>(
  entries: TokenEntry<T>[],
): (authorization: string | undefined) => T | undefined {
  const digests = entries.map((e) => ({ digest: Buffer.from(e.tokenSha256, 'hex'), value: e.value }));
  return (authorization) => {
    const token = bearerToken(authorization);
    if (token === undefined) return undefined;
    const presented = createHash('sha256').update(token).digest();
    let found: T | undefined;
    for (const d of digests) {
      if (timingSafeEqual(presented, d.digest) && found === undefined) found = d.value;
    }
    return found;
  };
}

/** How OAuth access tokens become tenants: the verifier, and the tenants a claim value may name. */
export interface OAuthTenancy {
  verifier: Pick<OAuthVerifier, 'verify'>;
  tenants: ReadonlyMap<string, TenantEndpoint>;
  /** the tenant of a valid token whose claim names no tenant; undefined: such tokens are refused */
  defaultTenant?: TenantEndpoint;
}

const refuse = (status: AuthRefusal['status'], message: string, error?: AuthRefusal['error']) => ({
  refusal: { status, message, ...(error ? { error } : {}) },
});

/**
 * Static tokens first (their hashes, in constant time), then, when an identity provider is configured, JWT access
 * tokens: the tenant is the one the issuer's `tenantClaim` names. Rebuilt from the tenants file whenever it changes.
 */
export function createAuthenticator(opts: {
  tokens: TokenEntry<TenantEndpoint>[];
  oauth?: OAuthTenancy;
}): Authenticate {
  const resolveStatic = createTokenResolver(opts.tokens);
  const { oauth } = opts;
  return async (authorization) => {
    const token = bearerToken(authorization);
    if (token === undefined)
      return refuse(
        401,
        authorization ? 'the Authorization header is not "Bearer <token>"' : 'a bearer token is required',
        'invalid_token',
      );
    const known = resolveStatic(authorization);
    if (known) return { caller: { endpoint: known, identity: `token ${known.id}` } };
    if (!oauth) return refuse(401, 'the bearer token is not valid', 'invalid_token');

    const verdict = await oauth.verifier.verify(token);
    if (verdict.refusal) return verdict;
    const { issuer, claims, expiresAtMs } = verdict.token;
    const value = claims[issuer.tenantClaim];
    const endpoint =
      (typeof value === 'string' ? oauth.tenants.get(value) : undefined) ?? oauth.defaultTenant;
    if (!endpoint) {
      const named =
        typeof value === 'string'
          ? ` ("${value.slice(0, 64)}")`
          : value === undefined
            ? ' (absent)'
            : ' (not a string)';
      return refuse(
        403,
        `the token is valid, but its "${issuer.tenantClaim}" claim${named} names no tenant of this server`,
      );
    }
    const identity = JSON.stringify(['oauth', issuer.issuer, claims.sub ?? null, endpoint.id]);
    return { caller: { endpoint, identity, expiresAtMs } };
  };
}

/** Everyone is the one local tenant (serve without a tenants file, on loopback). */
export function localAuthenticator(local: TenantEndpoint): Authenticate {
  return () => Promise.resolve({ caller: { endpoint: local, identity: 'local' } });
}

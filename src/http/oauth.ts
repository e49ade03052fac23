import {
  createRemoteJWKSet,
  decodeJwt,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import type { IssuerConfig } from '../config/oauth.js';
import { AuthServerUnavailableError, discoverJwksUri } from './oauth-discovery.js';
import type { AuthRefusal } from './types.js';

// jose does the JWT work (parsing, signatures, claims, JWKS caching); this file says which tokens we accept.

export interface VerifierOptions {
  /** exp/nbf skew */
  clockSkewSeconds: number;
  /** each metadata or JWKS request */
  fetchTimeoutMs?: number;
  /**
   * A token whose `kid` the cached keys lack makes the key set be fetched again, at most this often (a rotated key
   * is accepted after that; a flood of made-up kids costs the IdP one request per period).
   */
  jwksCooldownMs?: number;
  /** the keys are fetched again after this long even when every kid is known (a removed key stops working) */
  jwksMaxAgeMs?: number;
}

/** A token that passed every check: who it is, which issuer vouches for it, until when. */
export interface VerifiedToken {
  issuer: IssuerConfig;
  claims: JWTPayload;
  /** the last moment it is accepted: `exp` plus the skew (ms since the epoch) */
  expiresAtMs: number;
}

export type TokenVerdict =
  { token: VerifiedToken; refusal?: undefined } | { token?: undefined; refusal: AuthRefusal };

const invalid = (message: string): TokenVerdict => ({
  refusal: { status: 401, error: 'invalid_token', message },
});

/** The scopes a token carries: `scope` (RFC 9068, space separated) or `scp` (Entra ID, Okta: a list or a string). */
export function tokenScopes(claims: JWTPayload): string[] {
  const raw = claims.scope ?? claims.scp;
  if (typeof raw === 'string') return raw.split(' ').filter(Boolean);
  if (Array.isArray(raw)) return raw.filter((s): s is string => typeof s === 'string');
  return [];
}

/** What a failed jwtVerify means for the caller. */
function refusalFor(error: unknown): TokenVerdict {
  if (error instanceof AuthServerUnavailableError)
    return { refusal: { status: 503, message: `the token cannot be checked now: ${error.message}` } };
  if (error instanceof errors.JWTExpired) return invalid('the token has expired');
  // jose's messages name the claim: 'unexpected "aud" claim value', '"nbf" claim timestamp check failed'
  if (error instanceof errors.JWTClaimValidationFailed)
    return invalid(`the token is refused: ${error.message}`);
  if (error instanceof errors.JOSEAlgNotAllowed)
    return invalid('the token is not signed with an accepted algorithm (asymmetric signatures only)');
  if (error instanceof errors.JWKSNoMatchingKey)
    return invalid("no key of the issuer's key set matches the token (unknown or retired kid)");
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return invalid('the token signature is invalid');
  if (error instanceof errors.JOSEError) return invalid('the token is malformed');
  throw error;
}

/** The key set of one issuer: fetched on first use (through discovery when no jwksUri is given), then cached. */
function keySetOf(issuer: IssuerConfig, opts: VerifierOptions): JWTVerifyGetKey {
  const deps = { timeoutMs: opts.fetchTimeoutMs ?? 5_000 };
  const cooldownMs = opts.jwksCooldownMs ?? 5_000;
  let keys: JWTVerifyGetKey | undefined;
  let discovery: Promise<string> | undefined;
  let failedAtMs = -Infinity;
  return async (header, token) => {
    if (!keys) {
      // A failed discovery is retried, but not by every request while the IdP is down.
      if (!discovery && Date.now() - failedAtMs < cooldownMs)
        throw new AuthServerUnavailableError(
          `the metadata of ${issuer.issuer} could not be fetched a moment ago`,
        );
      discovery ??= issuer.jwksUri ? Promise.resolve(issuer.jwksUri) : discoverJwksUri(issuer.issuer, deps);
      let jwksUri: string;
      try {
        jwksUri = await discovery;
      } catch (error) {
        discovery = undefined;
        failedAtMs = Date.now();
        throw error;
      }
      keys ??= createRemoteJWKSet(new URL(jwksUri), {
        timeoutDuration: deps.timeoutMs,
        cooldownDuration: cooldownMs,
        cacheMaxAge: opts.jwksMaxAgeMs ?? 10 * 60_000,
      });
    }
    try {
      return await keys(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys)
        throw error;
      throw new AuthServerUnavailableError(`the keys of ${issuer.issuer} could not be fetched`, {
        cause: error,
      });
    }
  };
}

/**
 * Checks JWT access tokens from the configured issuers: signature by a key of that issuer's JWKS with an allowed
 * (asymmetric) algorithm, `iss`, `aud`, `exp` (required) and `nbf` within the skew, then the required scopes.
 */
export function createOAuthVerifier(issuers: IssuerConfig[], opts: VerifierOptions) {
  const byIssuer = new Map(issuers.map((i) => [i.issuer, { config: i, keys: keySetOf(i, opts) }]));
  return {
    async verify(jwt: string): Promise<TokenVerdict> {
      let iss: unknown;
      try {
        iss = decodeJwt(jwt).iss;
      } catch {
        return invalid('the bearer token is neither a known token nor a JWT');
      }
      // The unverified `iss` only picks whose keys to try; jwtVerify checks it again against the signed payload.
      const issuer = typeof iss === 'string' ? byIssuer.get(iss) : undefined;
      if (!issuer) return invalid("the token's issuer is not one this server trusts");
      const { config } = issuer;
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(jwt, issuer.keys, {
          issuer: config.issuer,
          audience: config.audience,
          algorithms: config.algorithms,
          clockTolerance: opts.clockSkewSeconds,
          requiredClaims: ['exp'],
        }));
      } catch (error) {
        return refusalFor(error);
      }
      const held = new Set(tokenScopes(claims));
      const missing = config.requiredScopes.filter((s) => !held.has(s));
      if (missing.length > 0)
        return {
          refusal: {
            status: 403,
            error: 'insufficient_scope',
            message: `the token lacks the scope ${missing.join(' ')}`,
            scope: config.requiredScopes,
          },
        };
      return { token: { issuer: config, claims, expiresAtMs: (claims.exp! + opts.clockSkewSeconds) * 1000 } };
    },
  };
}
export type OAuthVerifier = ReturnType<typeof createOAuthVerifier>;

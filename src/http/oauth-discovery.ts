import { z } from 'zod';
import { endpointUrlProblem, type IssuerConfig } from '../config/oauth.js';
import { AppError } from '../core/index.js';

/** The authorization server's metadata or keys could not be had: tokens cannot be checked right now (503). */
export class AuthServerUnavailableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('auth_server_unavailable', message, options);
  }
}

export interface FetchDeps {
  timeoutMs: number;
}

const MetadataSchema = z.looseObject({ issuer: z.string(), jwks_uri: z.string() });
const JwksSchema = z.object({
  keys: z.array(z.looseObject({ kty: z.string(), kid: z.string().optional(), alg: z.string().optional() })),
});

/** Where an issuer's metadata may be: OIDC discovery (Keycloak, Entra ID, Okta, Auth0), then RFC 8414. */
export function discoveryUrls(issuer: string): string[] {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  return [
    `${url.origin}${path}/.well-known/openid-configuration`,
    `${url.origin}/.well-known/oauth-authorization-server${path}`,
  ];
}

async function getJson(url: string, deps: FetchDeps): Promise<{ status: number; json?: unknown }> {
  let response: Response;
  try {
    response = await fetch(url, {
      headers: { accept: 'application/json' },
      // A redirect could lead anywhere; the admin names the addresses.
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs),
    });
  } catch (error) {
    const why =
      (error as Error).name === 'TimeoutError' ? `no answer within ${deps.timeoutMs} ms` : 'unreachable';
    throw new AuthServerUnavailableError(`${url}: ${why}`, { cause: error });
  }
  if (response.status !== 200) {
    await response.body?.cancel();
    return { status: response.status };
  }
  try {
    return { status: 200, json: await response.json() };
  } catch (error) {
    throw new AuthServerUnavailableError(`${url}: the answer is not JSON`, { cause: error });
  }
}

/** The issuer's `jwks_uri` from its metadata, which must name the same issuer (OIDC Discovery §4.3). */
export async function discoverJwksUri(issuer: string, deps: FetchDeps): Promise<string> {
  const tried: string[] = [];
  for (const url of discoveryUrls(issuer)) {
    const { status, json } = await getJson(url, deps);
    if (status !== 200) {
      tried.push(`${url} (HTTP ${status})`);
      continue;
    }
    const metadata = MetadataSchema.safeParse(json);
    if (!metadata.success)
      throw new AuthServerUnavailableError(`${url}: no issuer and jwks_uri in the metadata`);
    if (metadata.data.issuer !== issuer)
      throw new AuthServerUnavailableError(
        `${url} names the issuer ${metadata.data.issuer}, not ${issuer} (the configured issuer must match exactly)`,
      );
    const problem = endpointUrlProblem(metadata.data.jwks_uri);
    if (problem)
      throw new AuthServerUnavailableError(`${url}: jwks_uri ${metadata.data.jwks_uri}: ${problem}`);
    return metadata.data.jwks_uri;
  }
  throw new AuthServerUnavailableError(`no metadata for ${issuer}: tried ${tried.join(', ')}`);
}

/** For `doctor`: reach the issuer's metadata and keys now, and say what was found. */
export async function describeIssuer(issuer: IssuerConfig, deps: FetchDeps): Promise<string> {
  const jwksUri = issuer.jwksUri ?? (await discoverJwksUri(issuer.issuer, deps));
  const { status, json } = await getJson(jwksUri, deps);
  if (status !== 200) throw new AuthServerUnavailableError(`${jwksUri}: HTTP ${status}`);
  const jwks = JwksSchema.safeParse(json);
  if (!jwks.success) throw new AuthServerUnavailableError(`${jwksUri}: not a JSON Web Key Set`);
  const allowed = new Set<string>(issuer.algorithms);
  const signing = jwks.data.keys.filter(
    (k) => k.kty !== 'oct' && (k.alg === undefined || allowed.has(k.alg)),
  );
  if (signing.length === 0)
    throw new AuthServerUnavailableError(
      `${jwksUri} has no public key for the allowed algorithms (${issuer.algorithms.join(', ')})`,
    );
  const keys = signing.map((k) => `${k.kid ?? '(no kid)'} ${k.alg ?? k.kty}`).join(', ');
  const via = issuer.jwksUri ? 'JWKS' : 'discovery found JWKS';
  return `${issuer.issuer}: ${via} ${jwksUri} with ${signing.length} key(s): ${keys}; audience ${issuer.audience.join(' or ')}, tenant from "${issuer.tenantClaim}"`;
}

import { configuredResource } from '../config/oauth.js';
import type { TenantsFile } from '../config/tenants.js';
import { createAuthenticator } from './auth.js';
import { createOAuthVerifier } from './oauth.js';
import type { Authenticate, ProtectedResource, TenantEndpoint } from './types.js';

export interface TenantsAuthentication {
  authenticate: Authenticate;
  /** present when the file names an identity provider */
  protectedResource?: ProtectedResource;
}

/**
 * The tenants file as the HTTP face needs it: static token hashes, and with an `oauth` section the token verifier,
 * the claim → tenant mapping and the metadata to publish. A pure function of the file, so a reload rebuilds it.
 */
export function createTenantsAuthentication(
  file: TenantsFile,
  endpoints: ReadonlyMap<string, TenantEndpoint>,
): TenantsAuthentication {
  const endpointOf = (id: string) => {
    const endpoint = endpoints.get(id);
    if (!endpoint) throw new Error(`no endpoint for tenant ${id}`);
    return endpoint;
  };
  const tokens = file.tenants.flatMap((t) =>
    t.tokenSha256 ? [{ tokenSha256: t.tokenSha256, value: endpointOf(t.id) }] : [],
  );
  const { oauth } = file;
  if (!oauth) return { authenticate: createAuthenticator({ tokens }) };
  const verifier = createOAuthVerifier(oauth.issuers, { clockSkewSeconds: oauth.clockSkewSeconds });
  const tenants = new Map(file.tenants.map((t) => [t.id, endpointOf(t.id)]));
  return {
    authenticate: createAuthenticator({
      tokens,
      oauth: {
        verifier,
        tenants,
        ...(oauth.defaultTenant ? { defaultTenant: endpointOf(oauth.defaultTenant) } : {}),
      },
    }),
    protectedResource: {
      resource: configuredResource(oauth),
      authorizationServers: oauth.issuers.map((i) => i.issuer),
      scopesSupported: [...new Set(oauth.issuers.flatMap((i) => i.requiredScopes))],
    },
  };
}

import type { Context, Hono } from 'hono';
import type { AppEnv, AuthRefusal, ProtectedResource } from './types.js';

export const METADATA_PATH = '/.well-known/oauth-protected-resource';

/** The public URL of /mcp: the configured one, else this request's scheme and (already vetted) Host. */
function resourceOf(c: Context<AppEnv>, pr: ProtectedResource): string {
  if (pr.resource) return pr.resource;
  const url = new URL(c.req.url);
  return `${url.protocol}//${c.req.header('host') ?? url.host}/mcp`;
}

/** `<base>/.well-known/oauth-protected-resource`, where base is the resource without its `/mcp`. */
export function metadataUrl(c: Context<AppEnv>, pr: ProtectedResource): string {
  const resource = new URL(resourceOf(c, pr));
  const base = resource.pathname.replace(/\/mcp\/?$/, '').replace(/\/$/, '');
  return `${resource.origin}${base}${METADATA_PATH}`;
}

/** RFC 6750 quoted-string values: no `"`, `\` or control characters. */
const quoted = (text: string) =>
  `"${text.replace(/"/g, "'").replace(/[^\x20-\x21\x23-\x5b\x5d-\x7e]/g, '')}"`;

/**
 * The WWW-Authenticate challenge of a refusal. With an identity provider it names the metadata document, so
 * MCP clients (the SDK, mcp-remote) start their OAuth flow; without one, only the realm.
 */
export function challenge(refusal: AuthRefusal, metadata: string | undefined): string {
  const params = metadata ? [] : [`realm="mcp-conductor"`];
  if (refusal.error)
    params.push(`error=${quoted(refusal.error)}`, `error_description=${quoted(refusal.message)}`);
  if (refusal.scope?.length) params.push(`scope=${quoted(refusal.scope.join(' '))}`);
  if (metadata) params.push(`resource_metadata=${quoted(metadata)}`);
  return `Bearer ${params.join(', ')}`;
}

/** RFC 9728 Protected Resource Metadata, at the root and path-suffixed (`/mcp`) well-known addresses. */
export function protectedResourceRoutes(app: Hono<AppEnv>, pr: ProtectedResource): void {
  const document = (c: Context<AppEnv>) =>
    c.json(
      {
        resource: resourceOf(c, pr),
        authorization_servers: pr.authorizationServers,
        scopes_supported: pr.scopesSupported,
        bearer_methods_supported: ['header'],
      },
      200,
      { 'cache-control': 'max-age=300' },
    );
  app.get(METADATA_PATH, document);
  app.get(`${METADATA_PATH}/mcp`, document);
}

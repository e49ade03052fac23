import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';

/** What the HTTP face needs of an MCP server: one per session (or per stateless request). */
export interface McpSessionServer {
  connect(transport: Transport): Promise<void>;
  close(): Promise<void>;
}

/** What the HTTP face needs from one authenticated caller. */
export interface TenantEndpoint {
  id: string;
  /** open sessions this tenant may hold at once */
  maxSessions: number;
  createServer(): McpSessionServer;
}

/** Who sent a request: its tenant, the identity its sessions are bound to, and until when its token holds. */
export interface Caller {
  endpoint: TenantEndpoint;
  /** a session opened by this identity answers only to it (a static token's tenant, or an OAuth issuer + subject) */
  identity: string;
  /** the access token's expiry (ms since the epoch); undefined for static tokens */
  expiresAtMs?: number;
}

/** Why a request is not let in; `error` is the RFC 6750 code for WWW-Authenticate. */
export interface AuthRefusal {
  status: 401 | 403 | 503;
  error?: 'invalid_token' | 'insufficient_scope';
  message: string;
  /** the scopes a token needs (insufficient_scope) */
  scope?: string[];
}

export type AuthResult =
  { caller: Caller; refusal?: undefined } | { caller?: undefined; refusal: AuthRefusal };

/** Resolves the Authorization header of a request to its caller, or to the reason it is refused. */
export type Authenticate = (authorization: string | undefined) => Promise<AuthResult>;

/** What /.well-known/oauth-protected-resource says (RFC 9728), when an identity provider is configured. */
export interface ProtectedResource {
  /** the public URL of /mcp; undefined: derived from each request's Host */
  resource?: string;
  authorizationServers: string[];
  scopesSupported: string[];
}

/** The Prometheus text of /metrics. */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export type AppEnv = { Variables: { hostAllowed: boolean } };

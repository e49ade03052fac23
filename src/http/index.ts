// http: the only importer of hono (and its Node adapter) and of jose — bearer-token auth (static hashes, and OAuth
// access tokens from an identity provider with the RFC 9728 metadata), Host/Origin checks and CORS, body limits,
// /mcp with its sessions, /healthz, /readyz, /metrics.
export * from './app.js';
export * from './auth.js';
export * from './listen.js';
export { describeIssuer } from './oauth-discovery.js';
export * from './tenant-auth.js';
export * from './types.js';

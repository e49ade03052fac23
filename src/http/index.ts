// http: the only importer of hono (and its Node adapter) — bearer-token auth, Host/Origin checks and CORS, body
// limits, /mcp with its sessions, /healthz, /readyz, /metrics.
export * from './app.js';
export * from './auth.js';
export * from './listen.js';
export * from './types.js';

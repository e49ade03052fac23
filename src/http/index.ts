// http: the only importer of hono — auth, Origin/Host checks, body limits, /mcp, /healthz, /readyz, /metrics.
export * from './app.js';
export * from './auth.js';

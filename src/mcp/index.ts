// mcp: the only importer of McpServer — the server factory, tool registration (run_deno_code and the companion
// tools), the tool description and result formatting, what a client sees of a live run (progress, streamed
// output) and the tenant's tasks.
export * from './context.js';
export * from './format.js';
export * from './server.js';
export * from './tasks.js';

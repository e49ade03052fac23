// mcp: the only importer of McpServer — tool registration and result formatting.
export * from './format.js';
export * from './server.js';

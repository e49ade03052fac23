// proxy: the sandbox's side door — the per-execution Unix socket (a framed link, and the execution session on it),
// the mcpFactory call dispatcher with its allowlists and limits, and the upstream MCP client pool.
export * from './allowlist.js';
export * from './directory.js';
export * from './dispatcher.js';
export * from './execution-socket.js';
export * from './frames.js';
export * from './link.js';
export * from './protocol.js';
export * from './reply-cap.js';
export * from './upstreams.js';
export { removeSocketDir } from './socket-dir.js';

// proxy: the Unix-socket server and the upstream MCP client pool; allowlists; limits.
export * from './directory.js';
export * from './dispatcher.js';
export * from './frames.js';
export * from './protocol.js';
export * from './socket-server.js';
export * from './upstreams.js';

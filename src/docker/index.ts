// docker: the only importer of dockerode — a small typed port (port.ts) over engine, image, container and network
// calls, container labels, the attach stream's demux, cgroup readings, and the conductor's own container (when it
// runs in one).
export * from './cgroup.js';
export * from './client.js';
export * from './demux.js';
export * from './labels.js';
export * from './own-container.js';
export * from './port.js';

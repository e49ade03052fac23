// docker: the only importer of dockerode — a small typed port, container labels, stream demux, cgroup readings.
export * from './cgroup.js';
export * from './client.js';
export * from './demux.js';
export * from './labels.js';

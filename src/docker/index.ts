// docker: the only importer of dockerode — a small typed port, container labels and stream demux.
export * from './client.js';
export * from './demux.js';
export * from './labels.js';

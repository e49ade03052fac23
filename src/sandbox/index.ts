// sandbox: one execution's lifecycle — create → start → send code → collect → remove; deadlines; output caps; pool.
export * from './cold-source.js';
export * from './container-spec.js';
export * from './executor.js';
export * from './limiter.js';
export * from './output.js';
export * from './prepared.js';
export * from './profile.js';
export * from './reap.js';
export * from './run.js';
export * from './pool.js';

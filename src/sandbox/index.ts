// sandbox: one execution's lifecycle — admit → take a container (warm pool or cold) → deliver code → race the
// result against exit, deadline and signal → map host facts to a result → remove; output caps; reaping.
export * from './check.js';
export * from './cold-source.js';
export * from './container-spec.js';
export * from './executor.js';
export * from './limiter.js';
export * from './outcome.js';
export * from './output.js';
export * from './pool.js';
export * from './prepared.js';
export * from './profile.js';
export * from './reap.js';
export * from './retained.js';
export * from './run.js';

// wrap: user code → runnable module (import hoisting, return capture); pure, string in, string out. wrap-pool runs it
// on worker threads, off the event loop.
export * from './wrap.js';
export * from './positions.js';
export * from './wrap-pool.js';

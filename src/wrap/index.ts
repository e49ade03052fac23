// wrap: user code → runnable module (import hoisting, return capture); pure, string in, string out.
export * from './wrap.js';
export * from './positions.js';

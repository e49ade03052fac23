// core: domain types and errors shared by every other folder. Pure: imports nothing internal, no I/O.
export * from './errors.js';
export * from './events.js';
export * from './rate-window.js';
export * from './result.js';
export * from './trace-ids.js';

// image: the sandbox image — build context as a tar stream, content-hash tags, dependency pre-caching, lookup.
export * from './build.js';
export * from './context.js';
export * from './deno-binary.js';
export * from './libs.js';
export * from './plan.js';
export * from './tools.js';
export * from './transfer.js';

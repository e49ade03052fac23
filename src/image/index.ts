// image: the sandbox image — build context as a tar stream, content-hash tags, dependency pre-caching.
export * from './build.js';
export * from './context.js';
export * from './deno-binary.js';
export * from './libs.js';

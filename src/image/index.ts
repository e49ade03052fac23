// image: the sandbox image, and the conductor's own — build contexts as tar streams, content-hash tags, the lock and
// frozen pre-caching, JSR vendoring, the bill of materials, lookup.
export * from './bom.js';
export * from './build.js';
export * from './conductor-image.js';
export * from './context.js';
export * from './deno-binary.js';
export * from './host-files.js';
export * from './inventory.js';
export * from './jsr-vendor.js';
export * from './libs.js';
export * from './lock.js';
export * from './lookup.js';
export * from './plan.js';
export * from './tools.js';
export * from './transfer.js';

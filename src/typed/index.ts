// typed: TypeScript for the model — declarations of upstream tools generated from their JSON Schemas (the only
// importer of json-schema-to-typescript), cached per tenant, and the type checker that runs `deno check`-style
// checks of the code in a sandbox container before it runs.
export * from './declarations.js';
export * from './schema.js';
export * from './tool-types.js';
export * from './checker.js';
export * from './checker-session.js';
export * from './lsp.js';

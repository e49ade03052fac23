// playbooks: saved, reusable code plus notes (the original project's playbooks; "skills" elsewhere) — each tenant's
// own store beside the read-only ones shipped with the conductor; the only reader and writer of those files.
export * from './files.js';
export * from './front-matter.js';
export * from './store.js';

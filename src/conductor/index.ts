// conductor: start-up, tenants and their contexts, the admin inputs (RUN_ARGS, policies, mcp.json, tenants) shared
// by the conductor and the doctor, workspace quota images, live reload of the configuration, and shutdown.
export * from './admin-inputs.js';
export * from './conductor.js';
export * from './doctor.js';
export * from './tenant-context.js';
export * from './workspace-quota.js';
export * from './reload-plan.js';
export * from './reloader.js';

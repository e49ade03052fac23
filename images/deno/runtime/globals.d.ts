/**
 * Types of `importPlaybook`, `WORKSPACE_DIR` and `PERMISSIONS`, globals the MCP Conductor sandbox installs before
 * user code runs (the original MCP Conductor's names; beside `mcpFactory` and `progress`, see mcp-factory.d.ts and
 * progress.d.ts). Reference this file so editors and `deno check` know them.
 */

/** One Deno permission as granted: true (unscoped), a list of paths / hosts / programs / names, or false. */
export type PermissionGrant = boolean | readonly string[];

/** The Deno permissions in force for this execution, by kind; a kind that is absent is not granted. */
export interface ConductorPermissions {
  readonly read?: PermissionGrant;
  readonly write?: PermissionGrant;
  readonly net?: PermissionGrant;
  readonly env?: PermissionGrant;
  readonly run?: PermissionGrant;
  readonly sys?: PermissionGrant;
  readonly import?: PermissionGrant;
}

/**
 * The module of a playbook's `playbook.ts` (a playbook the list_playbooks tool lists: shipped with the conductor or
 * saved with create_playbook). The conductor sends the code over the execution's own channel; it runs with this
 * execution's permissions. Rejects with an Error naming the playbook when there is no such playbook, it has no
 * code, or its code fails to load. Importing one twice gives the same module.
 */
// deno-lint-ignore no-explicit-any
export type ImportPlaybookFunction = <M = Record<string, any>>(name: string) => Promise<M>;

declare global {
  /** Imports a playbook's code (see ImportPlaybookFunction). Read-only. */
  var importPlaybook: ImportPlaybookFunction;
  /** "/workspace" when a workspace is mounted there, else undefined. Read-only. */
  var WORKSPACE_DIR: string | undefined;
  /** The Deno permissions in force for this execution, deeply frozen. Read-only. */
  var PERMISSIONS: ConductorPermissions;
}

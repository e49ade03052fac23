import { join } from 'node:path';
import type { ConductorSettings } from '../config/env.js';
import type { AdminInputs } from './admin-inputs.js';

/** One context the doctor looks at: the local one, or a tenant of the tenants file. */
export interface CheckedContext {
  /** 'local', or `tenant <id>` */
  label: string;
  /** its directory below `root`: root itself for the local context, root/<tenant id> for a tenant */
  dir: string;
  policy: string;
  local: boolean;
}

/**
 * The contexts the conductor would make, each with its directory below `root` (the workspace root, the playbook
 * store root), as tenant-context.ts places them. A tenants file that does not load is the tenants check's to
 * report: then none.
 */
export async function checkedContexts(
  inputs: AdminInputs,
  settings: ConductorSettings,
  root: string,
): Promise<CheckedContext[]> {
  const tenants = await inputs.tenants().catch(() => []);
  return tenants
    ? tenants.map((t) => ({ label: `tenant ${t.id}`, dir: join(root, t.id), policy: t.policy, local: false }))
    : [{ label: 'local', dir: root, policy: settings.policy, local: true }];
}

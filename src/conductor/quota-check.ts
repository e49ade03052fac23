import { access, constants, lstat, readdir, realpath } from 'node:fs/promises';
import { basename, delimiter, dirname, join } from 'node:path';
import type { ConductorSettings } from '../config/env.js';
import type { AdminInputs } from './admin-inputs.js';
import { loopBackingFile, mountAt, QUOTA_TOOLS, runTool } from './workspace-image.js';
import { QUOTA_IN_CONTAINER } from './workspace-quota.js';

/** What `doctor` says about workspace quotas: what the host must offer, and where each quota's image stands. */

async function onPath(tool: string, path: string): Promise<boolean> {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const ok = await access(join(dir, tool), constants.X_OK).then(
      () => true,
      () => false,
    );
    if (ok) return true;
  }
  return false;
}

/**
 * On the host (not in a container), root, the e2fsprogs and util-linux commands, and a free loop device; throws
 * naming what is missing.
 */
export async function checkQuotaHost(path: string, inContainer: boolean): Promise<string> {
  if (inContainer) throw new Error(QUOTA_IN_CONTAINER);
  if (process.getuid?.() !== 0) throw new Error('workspace quotas need the conductor to run as root');
  const missing: string[] = [];
  for (const tool of Object.keys(QUOTA_TOOLS)) if (!(await onPath(tool, path))) missing.push(tool);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((t) => QUOTA_TOOLS[t]))].join(' ');
    throw new Error(`missing ${missing.join(', ')} (apt-get install ${packages})`);
  }
  const free = (await runTool('losetup', ['-f'])).trim();
  return `root, e2fsprogs and util-linux present, loop devices usable (next free: ${free})`;
}

/** One quota'd workspace: mounted, ready to mount, or why the conductor would refuse it. */
export async function describeQuotaWorkspace(dir: string, sizeMb: number): Promise<string> {
  const parent = await realpath(dirname(dir)).catch(() => undefined);
  if (!parent) return `${dir}: image created at start (${sizeMb} MB)`;
  const target = join(parent, basename(dir));
  const image = `${target}.ext4`;
  const mounted = await mountAt(target);
  if (mounted) {
    if ((await loopBackingFile(mounted.source)) !== image)
      throw new Error(`${target} is already a mount point (${mounted.fsType} from ${mounted.source})`);
    return `${target}: ${image} mounted`;
  }
  const files = await readdir(target).catch(() => [] as string[]);
  if (files.length > 0)
    throw new Error(`${target} has files that its quota image would hide: move them away`);
  const st = await lstat(image).catch(() => undefined);
  if (!st) return `${target}: image created at start (${sizeMb} MB)`;
  if (!st.isFile()) throw new Error(`${image} is not a regular file`);
  const mb = Math.round(st.size / (1024 * 1024));
  return `${target}: ${image} (${mb} MB${mb < sizeMb ? `, grown to ${sizeMb} MB at start` : ''}) mounted at start`;
}

/** The workspaces that have a quota: the tenants' (with a tenants file), else the single-tenant deployment's. */
export async function quotaWorkspaces(
  inputs: AdminInputs,
  settings: ConductorSettings,
): Promise<{ dir: string; sizeMb: number }[]> {
  const tenants = await inputs.tenants();
  if (!tenants) {
    const sizeMb = settings.quotas.workspaceQuotaMb;
    return sizeMb ? [{ dir: settings.workspaceDir, sizeMb }] : [];
  }
  return tenants.flatMap((t) =>
    t.workspaceQuotaMb ? [{ dir: join(settings.workspaceDir, t.id), sizeMb: t.workspaceQuotaMb }] : [],
  );
}

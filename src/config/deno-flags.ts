import { PERMISSION_NAMES, type DenoPermissions, type PermissionGrant } from './permissions.js';

/** `--allow-x` / `--allow-x=a,b` flags in a stable order; nothing for what is not granted. */
export function denoPermissionFlags(p: DenoPermissions): string[] {
  const flags: string[] = [];
  for (const name of PERMISSION_NAMES) {
    const grant = p[name];
    if (grant === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(grant) && grant.length > 0) flags.push(`--allow-${name}=${grant.join(',')}`);
  }
  return flags;
}

function unionGrant(
  a: PermissionGrant | undefined,
  b: PermissionGrant | undefined,
): PermissionGrant | undefined {
  if (a === true || b === true) return true;
  const list = [...new Set([...(Array.isArray(a) ? a : []), ...(Array.isArray(b) ? b : [])])];
  return list.length > 0 ? list : undefined;
}

/** Union of two grants: unscoped wins over lists, lists are merged without duplicates. */
export function mergePermissions(a: DenoPermissions, b: DenoPermissions): DenoPermissions {
  const out: DenoPermissions = {};
  for (const name of PERMISSION_NAMES) {
    const g = unionGrant(a[name], b[name]);
    if (g !== undefined) out[name] = g;
  }
  return out;
}

const UNSCOPED: Record<string, string> = {
  read: 'any file',
  write: 'any file',
  net: 'any host',
  env: 'every variable',
  run: 'any program',
  sys: 'all system information',
  import: 'any host',
};

/** A short human text of the grants, for the tool description. */
export function describePermissions(p: DenoPermissions): string {
  const parts = PERMISSION_NAMES.flatMap((name) => {
    const g = p[name];
    if (g === true) return [`${name}: ${UNSCOPED[name]}`];
    if (Array.isArray(g) && g.length > 0) return [`${name}: ${g.join(', ')}`];
    return [];
  });
  return parts.length > 0 ? parts.join('; ') : 'none (no file, network, environment or subprocess access)';
}

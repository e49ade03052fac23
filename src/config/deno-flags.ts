import { PERMISSION_NAMES, type DenoPermissions, type PermissionGrant } from './permissions.js';

/**
 * Deno's `--allow-x` / `--allow-x=a,b` flags for the grants, in the order of PERMISSION_NAMES (so equal grants give
 * equal command lines); nothing for what is absent or false.
 */
export function denoPermissionFlags(p: DenoPermissions): string[] {
  const flags: string[] = [];
  for (const name of PERMISSION_NAMES) {
    const grant = p[name];
    if (grant === true) flags.push(`--allow-${name}`);
    else if (Array.isArray(grant) && grant.length > 0) {
      // Deno splits the list on commas: a comma inside a value would grant something nobody wrote. Config loading
      // refuses such values, so reaching this is a bug.
      const bad = grant.find((v) => v.includes(','));
      if (bad !== undefined) throw new Error(`allow-${name} value ${JSON.stringify(bad)} contains a comma`);
      flags.push(`--allow-${name}=${grant.join(',')}`);
    }
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

/**
 * The union of two sets of grants: an unscoped grant (`true`) wins over any list; lists are united without
 * duplicates, in a stable order (a's entries first, then b's new ones); absent/false on both sides stays absent.
 */
export function mergePermissions(a: DenoPermissions, b: DenoPermissions): DenoPermissions {
  const out: DenoPermissions = {};
  for (const name of PERMISSION_NAMES) {
    const g = unionGrant(a[name], b[name]);
    if (g !== undefined) out[name] = g;
  }
  return out;
}

const UNSCOPED: Record<(typeof PERMISSION_NAMES)[number], string> = {
  read: 'any file',
  write: 'any file',
  net: 'any host',
  env: 'every variable',
  run: 'any program',
  sys: 'all system information',
  import: 'any host',
};

/**
 * A short human text of the grants, for the tool description, e.g.
 * `read: /workspace; write: /workspace; net: any host; run: gh, git`.
 */
export function describePermissions(p: DenoPermissions): string {
  const parts = PERMISSION_NAMES.flatMap((name) => {
    const g = p[name];
    if (g === true) return [`${name}: ${UNSCOPED[name]}`];
    if (Array.isArray(g) && g.length > 0) return [`${name}: ${g.join(', ')}`];
    return [];
  });
  return parts.length > 0 ? parts.join('; ') : 'none (no file, network, environment or subprocess access)';
}

import type { DenoPermissions, PermissionName } from '../config/permissions.js';
import { PERMISSION_NAMES } from '../config/permissions.js';
import { MAIN_FUNCTION_NAME, USER_CODE_FILENAME } from '../wrap/index.js';

/** What the model reads of a denial, and of where its code threw, in terms it can act on. */
export interface ErrorTextContext {
  /** the admin's grant (the runtime's own socket grants are not the code's to use, and are left out) */
  permissions: DenoPermissions;
  /** the policy's egress hosts, reached over HTTP(S) through the conductor's gateway (net is granted for them) */
  egressHosts?: readonly string[];
}

// Deno 2: `Requires read access to "/etc/passwd", run again with the --allow-read flag` (net, run, env, sys, ffi,
// import the same way; a target in quotes with backslash escapes, or none).
const DENIAL =
  /Requires ([a-z]+) access(?: to "((?:[^"\\]|\\.)*)")?, run again with the --allow-[a-z-]+ flag/g;
const MAIN_FRAME = new RegExp(
  `\\bat (async )?${MAIN_FUNCTION_NAME} \\((${USER_CODE_FILENAME.replace('.', '\\.')}:\\d+:\\d+)\\)`,
  'g',
);

const isPermissionName = (kind: string): kind is PermissionName =>
  (PERMISSION_NAMES as readonly string[]).includes(kind);

function granted(kind: string, ctx: ErrorTextContext): string {
  const grant = isPermissionName(kind) ? ctx.permissions[kind] : undefined;
  const listed = grant === true ? ['everything'] : Array.isArray(grant) ? [...grant] : [];
  if (kind === 'net' && ctx.egressHosts?.length)
    listed.push(`HTTP(S) through the egress gateway to ${ctx.egressHosts.join(', ')}`);
  return listed.length > 0 ? listed.join(', ') : 'none';
}

/**
 * Deno's advice ("run again with the --allow-read flag") is for a person at a shell: the model cannot change the
 * command line, and asking for more at run time is refused. Say instead that the administrator did not grant it,
 * and what they did grant.
 */
export function explainDenials(text: string, ctx: ErrorTextContext): string {
  return text.replace(DENIAL, (_, kind: string, target: string | undefined) => {
    const what = target === undefined ? `${kind} access` : `${kind} access to "${target}"`;
    return `${what} is not granted by the administrator; granted ${kind}: ${granted(kind, ctx)}`;
  });
}

/** The wrapper's function is no frame of the user's: `at __conductorMain (code.ts:3:9)` reads `at code.ts:3:9`. */
export function hideMainFrame(text: string): string {
  return text.replace(
    MAIN_FRAME,
    (_, awaited: string | undefined, where: string) => `at ${awaited ?? ''}${where}`,
  );
}

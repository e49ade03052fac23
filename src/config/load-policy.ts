import { readdir } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { ConfigError } from '../core/index.js';
import { parseConfigJson, readConfigText, validateConfig } from './json-config.js';
import {
  PERMISSION_NAMES,
  permissionValueProblem,
  type DenoPermissions,
  type PermissionGrant,
} from './permissions.js';
import { PolicySchema, type Policy } from './policy.js';

const POLICY_NAME = /^[a-z0-9][a-z0-9_-]*$/;

/** The policies shipped in (or added to) `policiesDir`: its `*.json` files but the JSON Schema, sorted. */
export async function listPolicyNames(policiesDir: string): Promise<string[]> {
  const files = await readdir(policiesDir).catch(() => [] as string[]);
  return files
    .filter((f) => f.endsWith('.json') && !f.endsWith('.schema.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .filter((n) => POLICY_NAME.test(n))
    .sort();
}

/** Values the schema lets through but Deno would misread (relative paths, commas, hosts with schemes...). */
function permissionValueLines(json: unknown): string[] {
  const deno = (json as { deno?: unknown } | null)?.deno;
  const perms = (deno as { permissions?: unknown } | null | undefined)?.permissions;
  if (typeof perms !== 'object' || perms === null) return [];
  return PERMISSION_NAMES.flatMap((name) => {
    const grant: unknown = (perms as Record<string, unknown>)[name];
    if (!Array.isArray(grant)) return [];
    return grant.flatMap((value: unknown, i) => {
      if (typeof value !== 'string' || value === '') return []; // the schema reports these
      const problem = permissionValueProblem(name, value);
      return problem ? [`deno.permissions.${name}[${i}]: ${JSON.stringify(value)} ${problem}`] : [];
    });
  });
}

/** The file a policy name or path stands for (see loadPolicy); undefined when it is neither. */
export function policyFile(nameOrPath: string, policiesDir: string): string | undefined {
  if (POLICY_NAME.test(nameOrPath)) return join(policiesDir, `${nameOrPath}.json`);
  return nameOrPath.includes('/') || nameOrPath.endsWith('.json') ? resolve(nameOrPath) : undefined;
}

/**
 * Loads and validates a policy. A bare name (`strict`: lower-case letters, digits, `_` and `-`) means
 * `<policiesDir>/<name>.json`; anything containing `/` or ending in `.json` is a path (relative to the working
 * directory). Every failure is a ConfigError saying which policy and listing what is available, or listing every
 * schema problem with its JSON path.
 */
export async function loadPolicy(
  nameOrPath: string,
  opts: { policiesDir: string; readFile?: (p: string) => Promise<string> },
): Promise<Policy> {
  const available = async () => {
    const names = await listPolicyNames(opts.policiesDir);
    return `available in ${opts.policiesDir}: ${names.join(', ') || 'none'}`;
  };
  const isName = POLICY_NAME.test(nameOrPath);
  const path = policyFile(nameOrPath, opts.policiesDir);
  if (path === undefined) {
    throw new ConfigError(
      `policy ${JSON.stringify(nameOrPath)} is neither a policy name (lower-case letters, digits, _ and -) nor a path (containing / or ending in .json); ${await available()}`,
    );
  }
  const label = isName ? `policy "${nameOrPath}" (${path})` : `policy file ${path}`;

  const text = await readConfigText(path, `policy file ${path}`, opts.readFile).catch(
    async (error: Error) => {
      // A missing policy is most often a typo: say which ones there are.
      const head = isName ? `there is no policy named "${nameOrPath}"` : error.message;
      throw new ConfigError(`${head} (${await available()})`, { cause: error.cause });
    },
  );
  const json = parseConfigJson(text, label);
  return validateConfig(PolicySchema, json, label, permissionValueLines(json));
}

/** loadPolicy, each name read and validated once (a failure is remembered too, and reported to every caller). */
export function createPolicyLoader(policiesDir: string): (nameOrPath: string) => Promise<Policy> {
  const loaded = new Map<string, Promise<Policy>>();
  return (nameOrPath) => {
    let p = loaded.get(nameOrPath);
    if (!p) loaded.set(nameOrPath, (p = loadPolicy(nameOrPath, { policiesDir })));
    return p;
  };
}

function isUnderWorkspace(path: string): boolean {
  // `//workspace/./x` is the same directory to Deno: compare what it resolves to.
  const p = posix.normalize(path);
  return p === '/workspace' || p === '/workspace/' || p.startsWith('/workspace/');
}

/**
 * Whether code may write the mounted /workspace: a read-write mount, and a write grant that is unscoped or names it,
 * a path under it, or the root above it.
 */
export function writesWorkspace(policy: Policy, permissions: DenoPermissions): boolean {
  const grant = permissions.write;
  if (policy.workspace.mode !== 'rw') return false;
  if (!Array.isArray(grant)) return grant === true;
  return grant.some((p) => isUnderWorkspace(p) || posix.normalize(p) === '/');
}

function withoutWorkspace(grant: PermissionGrant | undefined): PermissionGrant | undefined {
  if (!Array.isArray(grant)) return grant;
  const kept = grant.filter((p) => !isUnderWorkspace(p));
  return kept.length > 0 ? kept : undefined;
}

/**
 * The Deno permissions an execution under `policy` runs with. The rule:
 *
 * 1. When MCP_CONDUCTOR_RUN_ARGS is set and grants anything, it REPLACES the policy's `deno.permissions` (the two are
 *    not merged); when it is unset or empty, the policy's `deno.permissions` apply. A plain deployment thus keeps
 *    the seed's meaning (RUN_ARGS is the whole grant), and a deployment without it is governed by its policy.
 * 2. The policy's `workspace.mode` then clamps the result: `ro` drops `/workspace` and every path under it from the
 *    write grant; `none` drops them from both the read and the write grant. A grant left with no path is removed.
 *    An unscoped grant (`allow-read` with no list) is left as it is: the container mount (read-only, or absent) is
 *    what keeps the code from the workspace; the clamp keeps the command line and the tool description honest.
 *
 * RUN_ARGS is passed only for the deployment's own policy (stdio, or serve without a tenants file); a tenant of
 * `serve` runs with exactly its policy's permissions. The runtime's own socket grant is added on top later (see the
 * sandbox), and nothing else.
 */
export function effectivePermissions(policy: Policy, runArgs: DenoPermissions | undefined): DenoPermissions {
  const source = runArgs && Object.keys(runArgs).length > 0 ? runArgs : policy.deno.permissions;
  const mode = policy.workspace.mode;
  const out: DenoPermissions = {};
  for (const name of PERMISSION_NAMES) {
    let grant = source[name];
    if (Array.isArray(grant)) grant = [...grant];
    if ((name === 'write' && mode !== 'rw') || (name === 'read' && mode === 'none'))
      grant = withoutWorkspace(grant);
    if (grant !== undefined && grant !== false) out[name] = grant;
  }
  return out;
}

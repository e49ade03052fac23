import { readdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { ConfigError } from '../core/index.js';
import type { DenoPermissions, PermissionGrant } from './permissions.js';
import { PolicySchema, type Policy } from './policy.js';

export async function listPolicyNames(policiesDir: string): Promise<string[]> {
  const names = await readdir(policiesDir).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith('.json') && !n.endsWith('.schema.json'))
    .map((n) => basename(n, '.json'))
    .sort();
}

/** A bare name (`strict`) is looked up in the policies folder; anything with a `/` or ending in .json is a path. */
export async function loadPolicy(
  nameOrPath: string,
  opts: { policiesDir: string; readFile?: (p: string) => Promise<string> },
): Promise<Policy> {
  const read = opts.readFile ?? ((p: string) => readFile(p, 'utf8'));
  const isName = /^[a-z0-9][a-z0-9_-]*$/.test(nameOrPath);
  if (!isName && !nameOrPath.includes('/') && !nameOrPath.endsWith('.json')) {
    throw new ConfigError(`MCP_CONDUCTOR_POLICY "${nameOrPath}" is neither a policy name nor a path`);
  }
  const path = isName ? join(opts.policiesDir, `${nameOrPath}.json`) : resolve(nameOrPath);
  let text: string;
  try {
    text = await read(path);
  } catch (error) {
    const available = (await listPolicyNames(opts.policiesDir)).join(', ') || 'none';
    throw new ConfigError(
      isName
        ? `there is no policy named "${nameOrPath}" (available: ${available})`
        : `cannot read the policy file ${path}`,
      { cause: error },
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`the policy ${path} is not valid JSON: ${(error as Error).message}`);
  }
  const parsed = PolicySchema.safeParse(json);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `- ${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ConfigError(`the policy ${path} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

const underWorkspace = (p: string) => p === '/workspace' || p.startsWith('/workspace/');

function withoutWorkspace(grant: PermissionGrant | undefined): PermissionGrant | undefined {
  if (!Array.isArray(grant)) return grant;
  const kept = grant.filter((p) => !underWorkspace(p));
  return kept.length > 0 ? kept : undefined;
}

/**
 * The permissions code runs with. Rule (also in the README):
 * 1. MCP_CONDUCTOR_RUN_ARGS, when set and non-empty, REPLACES the policy's `deno.permissions`; otherwise the
 *    policy's permissions apply. (A plain deployment keeps the seed's meaning: RUN_ARGS is the whole grant.)
 * 2. The workspace mode then clamps them: `ro` drops write grants on /workspace, `none` drops read and write grants
 *    on /workspace. (The container mount enforces the same; this keeps the description honest.)
 */
export function effectivePermissions(policy: Policy, runArgs: DenoPermissions | undefined): DenoPermissions {
  const base: DenoPermissions = {
    ...(runArgs && Object.keys(runArgs).length > 0 ? runArgs : policy.deno.permissions),
  };
  const mode = policy.workspace.mode;
  if (mode === 'ro' || mode === 'none') base.write = withoutWorkspace(base.write);
  if (mode === 'none') base.read = withoutWorkspace(base.read);
  for (const k of Object.keys(base) as (keyof DenoPermissions)[]) if (base[k] === undefined) delete base[k];
  return base;
}

import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

/**
 * One Deno permission: absent/false = not granted, true = granted without a scope, a list = granted for exactly
 * those paths / hosts / commands / variables.
 */
export const PermissionGrantSchema = z.union([z.boolean(), z.array(z.string().min(1)).min(1)]);
export type PermissionGrant = z.infer<typeof PermissionGrantSchema>;

export const PERMISSION_NAMES = ['read', 'write', 'net', 'env', 'run', 'sys', 'import'] as const;
export type PermissionName = (typeof PERMISSION_NAMES)[number];

export const DenoPermissionsSchema = z
  .object({
    read: PermissionGrantSchema.optional(),
    write: PermissionGrantSchema.optional(),
    net: PermissionGrantSchema.optional(),
    env: PermissionGrantSchema.optional(),
    run: PermissionGrantSchema.optional(),
    sys: PermissionGrantSchema.optional(),
    import: PermissionGrantSchema.optional(),
  })
  .strict();
export type DenoPermissions = z.infer<typeof DenoPermissionsSchema>;

/** The kinds Deno 2 accepts in `--allow-sys=…`. */
export const SYS_KINDS = [
  'hostname',
  'osRelease',
  'osUptime',
  'loadavg',
  'networkInterfaces',
  'systemMemoryInfo',
  'uid',
  'gid',
  'cpus',
  'homedir',
  'getegid',
  'username',
  'statfs',
  'getPriority',
  'setPriority',
] as const;

const SYS_KIND_SET: ReadonlySet<string> = new Set(SYS_KINDS);
// Control characters, and invisible format characters (zero-width space, bidi overrides) that make a value read as
// something it is not.
export const HIDDEN_CHARS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

function hostProblem(value: string): string | undefined {
  const m = /^(\[[^\]]*\]|[^:[\]]*)(?::(\d{1,5}))?$/.exec(value);
  if (!m) {
    return value.split(':').length > 2 && !value.startsWith('[')
      ? 'is not host[:port] (write an IPv6 address in brackets: [::1]:8080)'
      : 'is not host[:port]';
  }
  const host = m[1] ?? '';
  const port = m[2];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) return 'has a port outside 1-65535';
  if (host.startsWith('[')) return isIPv6(host.slice(1, -1)) ? undefined : 'has an invalid IPv6 address';
  if (/^[\d.]+$/.test(host)) return isIPv4(host) ? undefined : 'has an invalid IPv4 address';
  const labels = host.split('.');
  if (host.length > 253 || !labels.every((l) => LABEL.test(l))) {
    return 'has an invalid host name (letters, digits, - and dots; no wildcards)';
  }
  return undefined;
}

function pathProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must be an absolute path';
  if (value.split('/').includes('..')) return 'must not contain a ".." segment';
  return undefined;
}

/**
 * Why `value` is not acceptable in a grant of `name`, or undefined when it is. Shared by MCP_CONDUCTOR_RUN_ARGS and
 * policy files, so a value reaches Deno's command line only in a form Deno reads the way the admin meant: no comma
 * (it would split into two grants), no relative path (relative to what?), no hidden characters.
 */
export function permissionValueProblem(name: PermissionName, value: string): string | undefined {
  if (value === '') return 'is empty';
  if (HIDDEN_CHARS.test(value)) return 'contains a control or invisible character';
  if (value.includes(',')) return 'contains a comma, which Deno would read as a separator';
  switch (name) {
    case 'read':
    case 'write':
      return pathProblem(value);
    case 'net':
    case 'import':
      return hostProblem(value);
    case 'run':
      if (!/^[A-Za-z0-9._+/-]+$/.test(value) || value.startsWith('-') || value === '.' || value === '..') {
        return 'must be a command name or an absolute path (letters, digits, . _ + - /)';
      }
      return value.includes('/') ? pathProblem(value) : undefined;
    case 'env':
      return /^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(value)
        ? undefined
        : 'must be a variable name, optionally ending in * (e.g. AWS_*)';
    case 'sys':
      return SYS_KIND_SET.has(value) ? undefined : `must be one of: ${SYS_KINDS.join(', ')}`;
  }
}

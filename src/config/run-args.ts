import { ConfigError } from '../core/index.js';
import { PERMISSION_NAMES, type DenoPermissions, type PermissionName } from './permissions.js';

const REFUSED: [RegExp, string][] = [
  [/^(allow-all|a)$/i, 'it would grant every permission'],
  [/^allow-ffi$/, 'native code escapes every other permission'],
  [/^allow-hrtime$/, 'it no longer exists in Deno 2 and is not needed'],
  [/^inspect/, 'a debugger port would expose the sandbox'],
  [/^v8-flags$/, 'V8 flags are set by the conductor'],
  [/^config$/, 'a config file changes how code resolves; code runs with --no-config'],
  [/^(p|permission-set)$/i, 'permission sets come from policies, not flags'],
  [/^unstable/, 'unstable features are not enabled in the sandbox'],
  [/^deny-/, 'deny-* flags are not supported here; grant less, or use a policy'],
];

const SYS_KINDS = new Set([
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
]);

const HOST = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

function checkValue(name: PermissionName, value: string): string | undefined {
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (/[\x00-\x1f\x7f]/.test(value)) return `"${name}" value contains a control character`;
  switch (name) {
    case 'read':
    case 'write':
      if (!value.startsWith('/')) return `allow-${name} paths must be absolute: "${value}"`;
      if (value.split('/').includes('..')) return `allow-${name} paths must not contain "..": "${value}"`;
      return undefined;
    case 'net':
    case 'import': {
      const m = /^(\[[0-9a-f:.]+\]|[^:\s]+)(?::(\d{1,5}))?$/i.exec(value);
      if (!m) return `allow-${name} expects host[:port]: "${value}"`;
      const host = m[1]!;
      if (!(host.startsWith('[') || IPV4.test(host) || HOST.test(host)))
        return `allow-${name} has an invalid host: "${value}"`;
      if (m[2] !== undefined && (Number(m[2]) < 1 || Number(m[2]) > 65535))
        return `allow-${name} has an invalid port: "${value}"`;
      return undefined;
    }
    case 'run':
      return /^[A-Za-z0-9._+/-]+$/.test(value)
        ? undefined
        : `allow-run expects command names or absolute paths: "${value}"`;
    case 'env':
      return /^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(value)
        ? undefined
        : `allow-env expects variable names (optionally ending in *): "${value}"`;
    case 'sys':
      return SYS_KINDS.has(value)
        ? undefined
        : `allow-sys does not know "${value}" (one of: ${[...SYS_KINDS].join(', ')})`;
  }
}

/**
 * Parses MCP_CONDUCTOR_RUN_ARGS in the seed's format, e.g.
 * `allow-read=/workspace,allow-write=/workspace,allow-net,allow-run=gh,git`: comma- (or space-) separated tokens; a
 * token `allow-X[=v]` (leading `--` optional) starts a flag, a bare token after a flag with a list continues it.
 * Every problem is collected into one ConfigError.
 */
export function parseRunArgs(raw: string | undefined): DenoPermissions {
  const result: DenoPermissions = {};
  if (!raw || !raw.trim()) return result;
  const problems: string[] = [];
  let current: PermissionName | undefined;
  let currentHasList = false;
  const grant = (name: PermissionName, value: string | true) => {
    const prev = result[name];
    if (value === true || prev === true) result[name] = true;
    else result[name] = [...new Set([...(Array.isArray(prev) ? prev : []), value])];
  };
  for (const token of raw.split(/[,\s]+/).filter(Boolean)) {
    const flag = token.replace(/^--?/, '');
    const eq = flag.indexOf('=');
    const key = eq >= 0 ? flag.slice(0, eq) : flag;
    const isFlag =
      token.startsWith('-') || eq >= 0 || /^(allow|deny)-/.test(key) || REFUSED.some(([re]) => re.test(key));
    if (!isFlag) {
      if (current && currentHasList) {
        const bad = checkValue(current, token);
        if (bad) problems.push(bad);
        else grant(current, token);
      } else {
        problems.push(
          `"${token}" is not a known flag${current ? ` (allow-${current} takes no list here: write allow-${current}=${token})` : ''}`,
        );
      }
      continue;
    }
    current = undefined;
    const refused = REFUSED.find(([re]) => re.test(key));
    if (refused) {
      problems.push(`"${token}" is refused: ${refused[1]}`);
      continue;
    }
    const name = key.replace(/^allow-/, '') as PermissionName;
    if (!key.startsWith('allow-') || !PERMISSION_NAMES.includes(name)) {
      problems.push(
        `"${token}" is not a known flag (known: ${PERMISSION_NAMES.map((n) => `allow-${n}`).join(', ')})`,
      );
      continue;
    }
    current = name;
    currentHasList = eq >= 0;
    if (eq < 0) {
      grant(name, true);
      continue;
    }
    const value = flag.slice(eq + 1);
    if (!value) {
      problems.push(`"${token}" has an empty value`);
      continue;
    }
    const bad = checkValue(name, value);
    if (bad) problems.push(bad);
    else grant(name, value);
  }
  if (problems.length > 0) {
    throw new ConfigError(`MCP_CONDUCTOR_RUN_ARGS is invalid:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  }
  return result;
}

import { ConfigError } from '../core/index.js';
import {
  HIDDEN_CHARS,
  PERMISSION_NAMES,
  permissionValueProblem,
  type DenoPermissions,
  type PermissionName,
} from './permissions.js';

/** Flags an admin might reach for that would undo the sandbox, each with the reason it is refused. */
const REFUSED: readonly [RegExp, string][] = [
  [/^(allow-all|A)$/, 'it would grant every permission'],
  [/^allow-ffi$/, 'native code escapes every other permission'],
  [/^allow-hrtime$/, 'high-resolution time only sharpens timing attacks (and Deno 2 removed the flag)'],
  [/^inspect/, 'a debugger port would hand the process to whoever connects'],
  [/^v8-flags$/, 'the conductor sets V8 flags (the heap limit) itself'],
  [/^config$/, 'a config file changes how code resolves; the code runs with --no-config'],
  [/^(P|permission-set)$/, 'permission sets live in deno.json, which is never read; use a policy'],
  [/^unstable/, 'unstable features are not enabled in the sandbox'],
  [/^deny-/, 'deny-* flags are not supported here; grant less, or use a policy'],
];

const KNOWN = PERMISSION_NAMES.map((n) => `allow-${n}`).join(', ');

/** What the previous flag leaves behind for a following bare token. */
type State =
  | { kind: 'start' }
  | { kind: 'list'; name: PermissionName }
  | { kind: 'bare'; name: PermissionName }
  | { kind: 'skip' }; // the list of a flag already reported: its items add nothing

interface Flag {
  key: string;
  value: string | undefined;
}

/** One token of the input; `opensEntry` when it is the first after a `;` (the original project's separator). */
interface Token {
  text: string;
  opensEntry: boolean;
}

/** Entries split on `;`, each entry's tokens on commas and whitespace; empty entries and tokens are dropped. */
function tokenize(raw: string): Token[] {
  return raw.split(';').flatMap((entry, i) =>
    entry
      .split(/[\s,]+/u)
      .filter((t) => t !== '')
      .map((text, j) => ({ text, opensEntry: i > 0 && j === 0 })),
  );
}

/**
 * The seed-format line that grants what `raw`, written in the original project's format (entries split by `;`,
 * e.g. `--allow-read=/workspace;--allow-net`), grants; undefined when `raw` has no `;` or is invalid (the parse
 * error says why). For the start-up notice.
 */
export function convertLegacyRunArgs(raw: string | undefined): string | undefined {
  if (!raw?.includes(';')) return undefined;
  try {
    parseRunArgs(raw);
  } catch {
    return undefined;
  }
  return raw
    .split(';')
    .map((entry) => entry.trim().replace(/^--/, ''))
    .filter((entry) => entry !== '')
    .join(',');
}

/** The flag a token spells, or undefined for a bare list item. */
function asFlag(token: string): Flag | undefined {
  const dashes = token.startsWith('--') ? 2 : token.startsWith('-') ? 1 : 0;
  const body = token.slice(dashes);
  const eq = body.indexOf('=');
  const key = eq >= 0 ? body.slice(0, eq) : body;
  const value = eq >= 0 ? body.slice(eq + 1) : undefined;
  const flagLike = /^(allow|deny)-/i.test(key) || REFUSED.some(([re]) => re.test(key));
  if (dashes === 0 && value === undefined && !flagLike) return undefined;
  // -A and -P are Deno's only single-dash forms worth naming; `-allow-net` is no spelling Deno reads.
  return { key: dashes === 1 && key.length > 1 ? `-${key}` : key, value };
}

/** A token quoted for the message, with control and invisible characters (bidi overrides too) spelled out. */
function q(s: string): string {
  return JSON.stringify(s).replace(new RegExp(HIDDEN_CHARS.source, 'gu'), (c) => {
    const code = c.codePointAt(0) ?? 0;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * What a token that is no flag is after `state`: an item of the list before it, or a problem; nothing after a flag
 * already reported (its list adds nothing).
 */
function readBare(
  token: string,
  opensEntry: boolean,
  state: State,
): { item: PermissionName } | { problem: string } | undefined {
  if (opensEntry)
    return {
      problem: `${q(token)} follows a ";", which separates flags (the original project's format): a value containing ";" cannot be granted here`,
    };
  if (state.kind === 'list') return { item: state.name };
  if (state.kind === 'bare')
    return {
      problem: `${q(token)} follows allow-${state.name}, which has no list to continue (to scope it, write allow-${state.name}=${q(token).slice(1, -1)})`,
    };
  if (state.kind === 'start')
    return { problem: `${q(token)} is not a flag and continues no list (flags: ${KNOWN})` };
  return undefined;
}

/**
 * Parses MCP_CONDUCTOR_RUN_ARGS in the seed's format, e.g.
 * `allow-read=/workspace,allow-write=/workspace,allow-net,allow-run=gh,git`, or the original project's, e.g.
 * `--allow-read=/workspace;--allow-net`: `;` always separates entries, and an entry must start with a flag, so a
 * `;` inside a path (`allow-read=/a;b`) is refused rather than read as two grants or as one odd path. `no-prompt`
 * (the original's examples start with it) is accepted and adds nothing: it is always on.
 *
 * Tokens are separated by commas and/or whitespace. A token `allow-X` or `allow-X=v` (a leading `--` is optional)
 * starts a flag; a bare token after a flag with a `=list` continues that list (`git` above belongs to allow-run); a
 * bare token anywhere else is an error. A flag given twice merges: lists are united, and a bare grant (`true`) wins.
 * Only the permission flags of DenoPermissionsSchema are accepted, each value is checked, and every problem is
 * reported at once in one ConfigError. Undefined, empty or blank input grants nothing: `{}`.
 */
export function parseRunArgs(raw: string | undefined): DenoPermissions {
  const grants = new Map<PermissionName, true | Set<string>>();
  const problems: string[] = [];
  let state: State = { kind: 'start' };

  const grant = (name: PermissionName, value: string | true) => {
    const prev = grants.get(name);
    if (value === true || prev === true) grants.set(name, true);
    else grants.set(name, (prev ?? new Set<string>()).add(value));
  };
  const addValue = (name: PermissionName, value: string, token: string) => {
    const problem = permissionValueProblem(name, value);
    if (problem) problems.push(`${q(token)}: allow-${name} value ${q(value)} ${problem}`);
    else grant(name, value);
  };

  for (const { text: token, opensEntry } of tokenize(raw ?? '')) {
    if (/^(--)?no-prompt$/.test(token)) {
      state = { kind: 'start' };
      continue;
    }
    const flag = asFlag(token);
    if (!flag) {
      const bare = readBare(token, opensEntry, state);
      if (bare && 'problem' in bare) problems.push(bare.problem);
      else if (bare) addValue(bare.item, token, token);
      if (opensEntry) state = { kind: 'skip' };
      continue;
    }
    const hasList = flag.value !== undefined;
    // `allow-run=gh,inspect`: a word that spells a refused flag is read as that flag, never as a list item.
    const inList =
      state.kind === 'list' && !hasList && !token.startsWith('-')
        ? ` (read as a flag, not as an item of the allow-${state.name} list)`
        : '';
    const refused = REFUSED.find(([re]) => re.test(flag.key));
    const name = flag.key.startsWith('allow-') ? flag.key.slice('allow-'.length) : '';
    if (HIDDEN_CHARS.test(flag.key)) {
      problems.push(`${q(token)} contains a control or invisible character`);
      state = hasList ? { kind: 'skip' } : { kind: 'start' };
    } else if (refused) {
      problems.push(`${q(token)} is refused: ${refused[1]}${inList}`);
      state = hasList ? { kind: 'skip' } : { kind: 'start' };
    } else if (!(PERMISSION_NAMES as readonly string[]).includes(name)) {
      problems.push(`${q(token)} is not a known flag (accepted: ${KNOWN})`);
      state = hasList ? { kind: 'skip' } : { kind: 'start' };
    } else {
      const perm = name as PermissionName;
      if (flag.value === undefined) {
        grant(perm, true);
        state = { kind: 'bare', name: perm };
      } else {
        if (flag.value === '') {
          problems.push(`${q(token)} has an empty value (write allow-${perm} alone to grant it unscoped)`);
        } else addValue(perm, flag.value, token);
        state = { kind: 'list', name: perm };
      }
    }
  }

  if (problems.length > 0) {
    throw new ConfigError(`MCP_CONDUCTOR_RUN_ARGS is invalid:\n${problems.map((p) => `- ${p}`).join('\n')}`);
  }
  const result: DenoPermissions = {};
  for (const name of PERMISSION_NAMES) {
    const g = grants.get(name);
    if (g !== undefined) result[name] = g === true ? true : [...g];
  }
  return result;
}

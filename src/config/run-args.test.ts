import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { convertLegacyRunArgs, parseRunArgs } from './run-args.js';

/** The problem lines of the ConfigError parseRunArgs throws for `raw`. */
function problems(raw: string): string[] {
  try {
    parseRunArgs(raw);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const [head, ...lines] = (error as ConfigError).message.split('\n');
    expect(head).toBe('MCP_CONDUCTOR_RUN_ARGS is invalid:');
    return lines.map((l) => l.replace(/^- /, ''));
  }
  throw new Error(`parseRunArgs(${JSON.stringify(raw)}) did not throw`);
}

describe('parseRunArgs: accepted', () => {
  it('parses the seed format, a bare token continuing the list before it', () => {
    expect(parseRunArgs('allow-read=/workspace,allow-write=/workspace,allow-net,allow-run=gh,git')).toEqual({
      read: ['/workspace'],
      write: ['/workspace'],
      net: true,
      run: ['gh', 'git'],
    });
  });

  it.each([
    [undefined, {}],
    ['', {}],
    ['   ', {}],
    [' ,, ', {}],
    ['--allow-net', { net: true }],
    ['allow-net=localhost:8080,api.example.com', { net: ['localhost:8080', 'api.example.com'] }],
    ['allow-net=[::1]:80,127.0.0.1,[2001:db8::1]', { net: ['[::1]:80', '127.0.0.1', '[2001:db8::1]'] }],
    ['--allow-read=/a --allow-write=/b', { read: ['/a'], write: ['/b'] }],
    ['allow-read=/a allow-read=/b,/a', { read: ['/a', '/b'] }],
    ['allow-read=/a,allow-read', { read: true }],
    ['allow-net,allow-net=a.com', { net: true }],
    ['allow-run=gh,git,allow-net', { run: ['gh', 'git'], net: true }],
    ['allow-read=/workspace,', { read: ['/workspace'] }],
    ['  allow-env=AWS_*,HOME ,\tallow-sys  ', { env: ['AWS_*', 'HOME'], sys: true }],
    ['allow-sys=hostname,cpus', { sys: ['hostname', 'cpus'] }],
    ['allow-run=/usr/bin/git,deno', { run: ['/usr/bin/git', 'deno'] }],
    ['allow-import=jsr.io,registry.npmjs.org:443', { import: ['jsr.io', 'registry.npmjs.org:443'] }],
    ['allow-read=/data/ünïcode', { read: ['/data/ünïcode'] }],
  ])('%j → %j', (raw, expected) => {
    expect(parseRunArgs(raw)).toEqual(expected);
  });

  it('orders grants as Deno permission names, whatever the input order', () => {
    expect(Object.keys(parseRunArgs('allow-run=git,allow-env,allow-read=/a'))).toEqual([
      'read',
      'env',
      'run',
    ]);
  });
});

describe('parseRunArgs: refused flags', () => {
  it.each([
    ['allow-all', '"allow-all" is refused: it would grant every permission'],
    ['--allow-all', '"--allow-all" is refused: it would grant every permission'],
    ['-A', '"-A" is refused: it would grant every permission'],
    ['A', '"A" is refused: it would grant every permission'],
    ['allow-ffi', '"allow-ffi" is refused: native code escapes every other permission'],
    ['allow-hrtime', '"allow-hrtime" is refused: high-resolution time'],
    ['--inspect=0.0.0.0:9229', '"--inspect=0.0.0.0:9229" is refused: a debugger port'],
    ['inspect-brk', '"inspect-brk" is refused: a debugger port'],
    ['inspect-wait', '"inspect-wait" is refused: a debugger port'],
    [
      'v8-flags=--max-old-space-size=99999',
      '"v8-flags=--max-old-space-size=99999" is refused: the conductor sets',
    ],
    ['config=/tmp/deno.json', '"config=/tmp/deno.json" is refused: a config file'],
    ['-P', '"-P" is refused: permission sets'],
    ['permission-set=x', '"permission-set=x" is refused: permission sets'],
    ['unstable-ffi', '"unstable-ffi" is refused: unstable features'],
    ['--unstable', '"--unstable" is refused: unstable features'],
    ['deny-net', '"deny-net" is refused: deny-* flags are not supported here; grant less, or use a policy'],
    ['--deny-read=/etc', '"--deny-read=/etc" is refused: deny-* flags are not supported here'],
  ])('%j', (raw, message) => {
    const [line, ...rest] = problems(raw);
    expect(line).toContain(message);
    expect(rest).toEqual([]);
  });

  it('names unknown flags and says which are accepted', () => {
    expect(problems('allow-everything')).toEqual([
      '"allow-everything" is not a known flag (accepted: allow-read, allow-write, allow-net, allow-env, allow-run, allow-sys, allow-import)',
    ]);
    expect(problems('--no-prompts')[0]).toMatch(/^"--no-prompts" is not a known flag/);
    expect(problems('-allow-net')[0]).toMatch(/^"-allow-net" is not a known flag/);
    expect(problems('ALLOW-NET')[0]).toMatch(/^"ALLOW-NET" is not a known flag/);
  });

  it('does not mistake the list of a refused flag for more problems', () => {
    expect(problems('deny-net=a.com,b.com,allow-net')).toEqual([expect.stringMatching(/^"deny-net=a.com"/)]);
  });
});

describe('parseRunArgs: bare tokens', () => {
  it('refuses a leading bare token', () => {
    expect(problems('git,allow-net')).toEqual([
      expect.stringMatching(/^"git" is not a flag and continues no list/),
    ]);
  });

  it('refuses a bare token after a flag without a list, suggesting the fix', () => {
    expect(problems('allow-net,foo.com')).toEqual([
      '"foo.com" follows allow-net, which has no list to continue (to scope it, write allow-net=foo.com)',
    ]);
  });

  it('takes a refused name in a list as the refused flag, never as a value', () => {
    expect(problems('allow-run=gh,allow-all')).toEqual([expect.stringMatching(/"allow-all" is refused/)]);
    expect(problems('allow-run=gh,A')).toEqual([expect.stringMatching(/"A" is refused/)]);
    expect(problems('allow-run=gh,inspect')).toEqual([
      '"inspect" is refused: a debugger port would hand the process to whoever connects (read as a flag, not as an item of the allow-run list)',
    ]);
  });
});

describe('parseRunArgs: values', () => {
  it.each([
    ['allow-read=', '"allow-read=" has an empty value (write allow-read alone to grant it unscoped)'],
    ['allow-read=workspace', '"allow-read=workspace": allow-read value "workspace" must be an absolute path'],
    ['allow-read=/a,b', '"b": allow-read value "b" must be an absolute path'],
    ['allow-write=/workspace/../etc', 'must not contain a ".." segment'],
    ['allow-write=/workspace/..', 'must not contain a ".." segment'],
    ['allow-net=host:70000', '"host:70000" has a port outside 1-65535'],
    ['allow-net=host:0', 'has a port outside 1-65535'],
    ['allow-net=*.example.com', 'has an invalid host name'],
    ['allow-net=https://a.com', 'is not host[:port]'],
    ['allow-net=::1', 'write an IPv6 address in brackets'],
    ['allow-net=[::g]:80', 'has an invalid IPv6 address'],
    ['allow-net=300.1.1.1', 'has an invalid IPv4 address'],
    ['allow-net=exämple.com', 'has an invalid host name'],
    ['allow-env=1BAD', 'must be a variable name, optionally ending in *'],
    ['allow-env=A*B', 'must be a variable name'],
    ['allow-sys=kernel', '"kernel" must be one of: hostname, osRelease'],
    ['allow-run=rm&&reboot', 'must be a command name or an absolute path'],
    ['allow-run=bin/git', 'must be an absolute path'],
    ['allow-run=..', 'must be a command name or an absolute path'],
    ['allow-read=/a\u0007b', 'allow-read value "/a\\u0007b" contains a control or invisible character'],
    ['allow-read=/a\u0000', 'contains a control or invisible character'],
    ['allow-read=/work\u200bspace', 'contains a control or invisible character'],
    ['allow-net\u202e', '"allow-net\\u202e" contains a control or invisible character'],
  ])('%j', (raw, message) => {
    const [line, ...rest] = problems(raw);
    expect(line).toContain(message);
    expect(rest).toEqual([]);
  });

  it('splits on any whitespace, so a value cannot hide a space', () => {
    expect(problems('allow-net=exa mple.com:99999')).toEqual([
      expect.stringMatching(/^"mple.com:99999": allow-net value "mple.com:99999" has a port outside/),
    ]);
  });
});

describe('parseRunArgs: all problems at once', () => {
  it('lists every problem, in input order', () => {
    expect(problems('allow-all,allow-read=rel,allow-ffi,bogus,allow-net,allow-sys=kernel')).toEqual([
      expect.stringMatching(/^"allow-all" is refused/),
      expect.stringMatching(/^"allow-read=rel": allow-read value "rel" must be an absolute path/),
      expect.stringMatching(/^"allow-ffi" is refused/),
      expect.stringMatching(/^"bogus" is not a flag/),
      expect.stringMatching(/^"allow-sys=kernel": allow-sys value "kernel" must be one of/),
    ]);
  });
});

describe("parseRunArgs: the original project's format (entries split by ;)", () => {
  const seed = parseRunArgs('allow-read=/workspace,allow-write=/workspace,allow-net,allow-run=gh,git');

  it.each([
    '--allow-read=/workspace;--allow-write=/workspace;--allow-net;--allow-run=gh,git',
    'allow-read=/workspace;allow-write=/workspace;allow-net;allow-run=gh,git',
    ' --allow-read=/workspace ; --allow-write=/workspace;;--allow-net; ;--allow-run=gh,git;',
    ';--allow-read=/workspace,--allow-write=/workspace;allow-net allow-run=gh,git',
    'no-prompt;--allow-read=/workspace;allow-write=/workspace,--allow-net;--no-prompt;allow-run=gh,git',
  ])('%j grants exactly what the seed format grants', (raw) => {
    expect(parseRunArgs(raw)).toEqual(seed);
  });

  it('reads the example of the issue as read access to /workspace and the network', () => {
    expect(parseRunArgs('--allow-read=/workspace;--allow-net')).toEqual({ read: ['/workspace'], net: true });
  });

  it.each([';', ';;', ' ; ; ', 'no-prompt', '--no-prompt;'])('%j grants nothing', (raw) => {
    expect(parseRunArgs(raw)).toEqual({});
  });

  it('refuses a ";" inside a path rather than splitting it into a grant or keeping an odd path', () => {
    expect(problems('--allow-read=/data;backup')).toEqual([
      '"backup" follows a ";", which separates flags (the original project\'s format): a value containing ";" cannot be granted here',
    ]);
    expect(problems('allow-read=/data;/backup,/other;allow-net')).toEqual([
      expect.stringMatching(/^"\/backup" follows a ";"/),
    ]);
    expect(problems('allow-run=gh;git')).toEqual([expect.stringMatching(/^"git" follows a ";"/)]);
  });

  it.each([
    ['--allow-all;--allow-net', '"--allow-all" is refused: it would grant every permission'],
    ['--allow-net;-A', '"-A" is refused: it would grant every permission'],
    ['allow-read=/w;allow-all', '"allow-all" is refused: it would grant every permission'],
    ['--allow-net;--allow-ffi', '"--allow-ffi" is refused: native code'],
    ['--allow-read=/w;--inspect=0.0.0.0:9229', 'is refused: a debugger port'],
    ['--allow-net;--unstable', '"--unstable" is refused'],
    ['--allow-read=;--allow-net', '"--allow-read=" has an empty value'],
    ['--allow-read=workspace;--allow-net', 'must be an absolute path'],
  ])('refuses %j as the seed format does', (raw, message) => {
    const [line, ...rest] = problems(raw);
    expect(line).toContain(message);
    expect(rest).toEqual([]);
  });
});

describe('convertLegacyRunArgs', () => {
  it.each([
    ['--allow-read=/workspace;--allow-net', 'allow-read=/workspace,allow-net'],
    [
      ' allow-read=/tmp,/usr ; ;allow-write=/tmp/w;--allow-net;',
      'allow-read=/tmp,/usr,allow-write=/tmp/w,allow-net',
    ],
  ])('%j → %j, which grants the same', (raw, line) => {
    expect(convertLegacyRunArgs(raw)).toBe(line);
    expect(parseRunArgs(line)).toEqual(parseRunArgs(raw));
  });

  it.each([undefined, '', 'allow-read=/workspace,allow-net', '--allow-read=/data;backup'])(
    '%j has no conversion',
    (raw) => {
      expect(convertLegacyRunArgs(raw)).toBeUndefined();
    },
  );
});

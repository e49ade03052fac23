import { describe, expect, it } from 'vitest';
import { denoPermissionFlags, describePermissions, mergePermissions } from './deno-flags.js';
import { parseRunArgs } from './run-args.js';

describe('denoPermissionFlags', () => {
  it('renders grants in the order of Deno permission names, nothing for absent or false', () => {
    expect(
      denoPermissionFlags({
        run: ['gh', 'git'],
        net: true,
        read: ['/workspace', '/run/conductor/mcp.sock'],
        env: false,
      }),
    ).toEqual(['--allow-read=/workspace,/run/conductor/mcp.sock', '--allow-net', '--allow-run=gh,git']);
    expect(denoPermissionFlags({})).toEqual([]);
    expect(denoPermissionFlags({ read: [] })).toEqual([]);
  });

  it('renders every permission kind', () => {
    expect(
      denoPermissionFlags({
        import: true,
        sys: ['cpus'],
        run: true,
        env: ['A*'],
        net: true,
        write: true,
        read: true,
      }),
    ).toEqual([
      '--allow-read',
      '--allow-write',
      '--allow-net',
      '--allow-env=A*',
      '--allow-run',
      '--allow-sys=cpus',
      '--allow-import',
    ]);
  });

  it('round-trips the seed RUN_ARGS', () => {
    expect(
      denoPermissionFlags(
        parseRunArgs('allow-read=/workspace,allow-write=/workspace,allow-net,allow-run=gh,git'),
      ),
    ).toEqual(['--allow-read=/workspace', '--allow-write=/workspace', '--allow-net', '--allow-run=gh,git']);
  });

  it('refuses to render a value containing a comma (it would split into two grants)', () => {
    expect(() => denoPermissionFlags({ read: ['/a,/etc'] })).toThrow(/contains a comma/);
  });
});

describe('mergePermissions', () => {
  it('unites lists without duplicates, a first, in a stable order', () => {
    expect(
      mergePermissions(
        { read: ['/workspace', '/b'], net: ['a.com'] },
        { read: ['/run/conductor/mcp.sock', '/workspace'], net: ['unix:/s'] },
      ),
    ).toEqual({ read: ['/workspace', '/b', '/run/conductor/mcp.sock'], net: ['a.com', 'unix:/s'] });
  });

  it('lets an unscoped grant win over a list, on either side', () => {
    expect(mergePermissions({ net: true }, { net: ['unix:/s'] })).toEqual({ net: true });
    expect(mergePermissions({ read: ['/a'] }, { read: true })).toEqual({ read: true });
  });

  it('keeps what only one side grants and drops false', () => {
    expect(mergePermissions({ env: ['HOME'], run: false }, { sys: true, write: false })).toEqual({
      env: ['HOME'],
      sys: true,
    });
    expect(mergePermissions({}, {})).toEqual({});
  });

  it('does not change its inputs', () => {
    const a = { read: ['/a'] };
    mergePermissions(a, { read: ['/b'] });
    expect(a).toEqual({ read: ['/a'] });
  });
});

describe('describePermissions', () => {
  it('says when nothing is granted', () => {
    expect(describePermissions({})).toBe('none (no file, network, environment or subprocess access)');
    expect(describePermissions({ net: false, read: [] })).toBe(
      'none (no file, network, environment or subprocess access)',
    );
  });

  it('lists scoped and unscoped grants in a stable order', () => {
    expect(
      describePermissions({ run: ['gh', 'git'], net: true, write: ['/workspace'], read: ['/workspace'] }),
    ).toBe('read: /workspace; write: /workspace; net: any host; run: gh, git');
    expect(describePermissions({ env: true, sys: ['hostname'], import: ['jsr.io'] })).toBe(
      'env: every variable; sys: hostname; import: jsr.io',
    );
  });
});

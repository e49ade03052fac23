import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { effectivePermissions, listPolicyNames, loadPolicy, writesWorkspace } from './load-policy.js';
import { PolicySchema } from './policy.js';

const policiesDir = new URL('../../policies', import.meta.url).pathname;

/** loadPolicy over an in-memory file, so each case states its input. */
async function loadText(text: string): Promise<Policy> {
  return loadPolicy('p', { policiesDir, readFile: () => Promise.resolve(text) });
}
type Policy = Awaited<ReturnType<typeof loadPolicy>>;

async function failure(load: Promise<unknown>): Promise<string> {
  const error = await load.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).message;
}

describe('shipped policies', () => {
  it('lists default, networked and strict (not the JSON Schema)', async () => {
    expect(await listPolicyNames(policiesDir)).toEqual(['default', 'networked', 'strict']);
  });

  it('every file parses with PolicySchema and loadPolicy, and points at the JSON Schema', async () => {
    const files = (await readdir(policiesDir)).filter(
      (f) => f.endsWith('.json') && !f.endsWith('.schema.json'),
    );
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const file of files) {
      const json = JSON.parse(await readFile(join(policiesDir, file), 'utf8')) as Record<string, unknown>;
      expect(json.$schema, file).toBe('./policy.schema.json');
      expect(json.description, file).toEqual(expect.any(String));
      const parsed = PolicySchema.parse(json);
      expect(await loadPolicy(file.replace(/\.json$/, ''), { policiesDir })).toEqual(parsed);
      expect(await loadPolicy(join(policiesDir, file), { policiesDir })).toEqual(parsed);
    }
  });

  it('default spells out the schema defaults: no permissions until MCP_CONDUCTOR_RUN_ARGS grants some', async () => {
    const p = await loadPolicy('default', { policiesDir });
    expect({ ...p, $schema: undefined, description: undefined }).toEqual(PolicySchema.parse({}));
    expect(effectivePermissions(p, undefined)).toEqual({});
    expect(effectivePermissions(p, { read: ['/workspace'] })).toEqual({ read: ['/workspace'] });
  });

  it('strict runs under gVisor with a read-only workspace and tight limits', async () => {
    const p = await loadPolicy('strict', { policiesDir });
    expect(p.container).toMatchObject({ runtime: 'runsc', network: 'none', memoryMb: 256, tmpfsMb: 16 });
    expect(p.workspace.mode).toBe('ro');
    expect(p.limits).toMatchObject({
      defaultTimeoutMs: 10_000,
      maxTimeoutMs: 30_000,
      maxOutputBytes: 32_768,
      maxReturnBytes: 65_536,
      maxMcpCalls: 50,
    });
    expect(p.deno.permissions).toEqual({ read: ['/workspace'] });
  });

  it('networked uses its own Docker network and a host list', async () => {
    const p = await loadPolicy('networked', { policiesDir });
    expect(p.container.network).toBe('mcp-conductor-egress');
    expect(p.deno.permissions.net).toEqual(['api.github.com', 'registry.npmjs.org']);
    expect(p.deno.allowRemoteImports).toBe(false);
  });
});

describe('loadPolicy: finding the file', () => {
  it('reads <policiesDir>/<name>.json for a name, and a path as given', async () => {
    const seen: string[] = [];
    const readFile = (p: string) => (seen.push(p), Promise.resolve('{}'));
    await loadPolicy('my_policy-2', { policiesDir: '/etc/p', readFile });
    await loadPolicy('/srv/x.json', { policiesDir: '/etc/p', readFile });
    await loadPolicy('./rel/y', { policiesDir: '/etc/p', readFile });
    expect(seen).toEqual(['/etc/p/my_policy-2.json', '/srv/x.json', join(process.cwd(), 'rel/y')]);
  });

  it('names an unknown policy and lists the available ones', async () => {
    expect(await failure(loadPolicy('nope', { policiesDir }))).toBe(
      `there is no policy named "nope" (available in ${policiesDir}: default, networked, strict)`,
    );
  });

  it('names a missing file', async () => {
    const message = await failure(loadPolicy('/nonexistent/p.json', { policiesDir }));
    expect(message).toBe(
      `the policy file /nonexistent/p.json is not found (available in ${policiesDir}: default, networked, strict)`,
    );
  });

  it('refuses what is neither a name nor a path', async () => {
    expect(await failure(loadPolicy('Strict Mode', { policiesDir }))).toMatch(
      /^policy "Strict Mode" is neither a policy name .* nor a path .*; available in .*: default, networked, strict$/,
    );
  });

  it('says when the policies folder is empty or missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policies-'));
    expect(await failure(loadPolicy('x', { policiesDir: dir }))).toContain(`available in ${dir}: none`);
    expect(await listPolicyNames(join(dir, 'missing'))).toEqual([]);
  });
});

describe('loadPolicy: validation', () => {
  it('reports invalid JSON with its position', async () => {
    const message = await failure(loadText('{\n  "workspace": {},\n  nope\n}'));
    expect(message).toMatch(
      /^the policy "p" \(.*p\.json\) is not valid JSON: .*position 23.* \(line 3, column 3\)$/,
    );
  });

  it('accepts a byte-order mark', async () => {
    expect((await loadText('\uFEFF{"workspace":{"mode":"ro"}}')).workspace.mode).toBe('ro');
  });

  it('lists every schema problem with its JSON path', async () => {
    const message = await failure(
      loadText(
        JSON.stringify({
          container: { memoryMb: 1, runtime: 'kata' },
          limits: { defaultTimeoutMs: 9e6 },
          deno: { permissions: { read: 'x', net: [''] } },
          extra: 1,
        }),
      ),
    );
    expect(message.split('\n')).toEqual([
      `the policy "p" (${join(policiesDir, 'p.json')}) is invalid:`,
      '- deno.permissions.read: Invalid input: expected boolean or array, received string',
      '- deno.permissions.net[0]: Too small: expected string to have >=1 characters',
      '- container.runtime: Invalid option: expected one of "runc"|"runsc"',
      '- container.memoryMb: Too small: expected number to be >=64',
      '- limits.defaultTimeoutMs: Too big: expected number to be <=3600000',
      '- limits: defaultTimeoutMs must not exceed maxTimeoutMs',
      '- (root): Unrecognized key: "extra"',
    ]);
  });

  it('checks permission values the way MCP_CONDUCTOR_RUN_ARGS does', async () => {
    const message = await failure(
      loadText(
        JSON.stringify({
          deno: { permissions: { read: ['/ok', 'relative'], write: ['/a,/etc'], net: ['https://x.com'] } },
        }),
      ),
    );
    expect(message.split('\n').slice(1)).toEqual([
      '- deno.permissions.read[1]: "relative" must be an absolute path',
      '- deno.permissions.write[0]: "/a,/etc" contains a comma, which Deno would read as a separator',
      '- deno.permissions.net[0]: "https://x.com" is not host[:port]',
    ]);
  });

  it('explains a failed union by what went wrong in the form that fits', async () => {
    const message = await failure(loadText('{"container":{"network":"bad net"},"mcp":{"servers":["a",""]}}'));
    expect(message.split('\n').slice(1)).toEqual([
      '- container.network: Invalid string: must match pattern /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/',
      '- mcp.servers[1]: Too small: expected string to have >=1 characters',
    ]);
  });

  it('reads a policy from a real file by path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    const file = join(dir, 'mine.json');
    await writeFile(file, JSON.stringify({ workspace: { mode: 'none' } }));
    expect((await loadPolicy(file, { policiesDir })).workspace.mode).toBe('none');
  });
});

describe('effectivePermissions', () => {
  const rw = PolicySchema.parse({ deno: { permissions: { read: ['/workspace'], write: ['/workspace'] } } });
  const ro = PolicySchema.parse({ workspace: { mode: 'ro' } });
  const none = PolicySchema.parse({ workspace: { mode: 'none' } });

  it('uses the policy when RUN_ARGS is unset or empty', () => {
    expect(effectivePermissions(rw, undefined)).toEqual({ read: ['/workspace'], write: ['/workspace'] });
    expect(effectivePermissions(rw, {})).toEqual({ read: ['/workspace'], write: ['/workspace'] });
  });

  it('lets RUN_ARGS replace the policy permissions, not add to them', () => {
    expect(effectivePermissions(rw, { net: true })).toEqual({ net: true });
  });

  it('drops write grants on /workspace and below when the workspace is read-only', () => {
    expect(
      effectivePermissions(ro, { read: ['/workspace'], write: ['/workspace/x', '/tmp', '/workspacex'] }),
    ).toEqual({ read: ['/workspace'], write: ['/tmp', '/workspacex'] });
    expect(effectivePermissions(ro, { write: ['//workspace/./sub', '/workspace/'] })).toEqual({});
  });

  it('drops read and write grants on /workspace when there is no workspace', () => {
    expect(effectivePermissions(none, { read: ['/workspace'], write: ['/workspace'], net: true })).toEqual({
      net: true,
    });
    expect(effectivePermissions(none, { read: true, write: ['/tmp'] })).toEqual({
      read: true,
      write: ['/tmp'],
    });
  });

  it('never hands out the policy’s own arrays', () => {
    const out = effectivePermissions(rw, undefined);
    (out.read as string[]).push('/etc');
    expect(rw.deno.permissions.read).toEqual(['/workspace']);
  });
});

describe('writesWorkspace', () => {
  const rw = PolicySchema.parse({ workspace: { mode: 'rw' } });
  it('is true for a read-write mount and a write grant that reaches /workspace', () => {
    expect(writesWorkspace(rw, { write: true })).toBe(true);
    expect(writesWorkspace(rw, { write: ['/workspace'] })).toBe(true);
    expect(writesWorkspace(rw, { write: ['/tmp', '//workspace/./out'] })).toBe(true);
    expect(writesWorkspace(rw, { write: ['/'] })).toBe(true);
  });
  it('is false without one, or for a mount that is not read-write', () => {
    expect(writesWorkspace(rw, {})).toBe(false);
    expect(writesWorkspace(rw, { write: ['/tmp'], read: ['/workspace'] })).toBe(false);
    expect(writesWorkspace(rw, { write: ['/workspaces'] })).toBe(false);
    expect(writesWorkspace(PolicySchema.parse({ workspace: { mode: 'ro' } }), { write: true })).toBe(false);
  });
});

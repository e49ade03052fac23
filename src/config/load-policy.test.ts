import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { denoPermissionFlags, describePermissions, mergePermissions } from './deno-flags.js';
import { effectivePermissions, listPolicyNames, loadPolicy } from './load-policy.js';
import { PolicySchema } from './policy.js';

const policiesDir = new URL('../../policies', import.meta.url).pathname;

describe('policies', () => {
  it('ships default, strict and networked, each valid', async () => {
    expect(await listPolicyNames(policiesDir)).toEqual(['default', 'networked', 'strict']);
    for (const f of await readdir(policiesDir)) {
      if (!f.endsWith('.json') || f.endsWith('.schema.json')) continue;
      const p = await loadPolicy(f.replace('.json', ''), { policiesDir });
      expect(p.deno.permissions).toBeDefined();
    }
    expect((await loadPolicy('strict', { policiesDir })).container.runtime).toBe('runsc');
    expect((await loadPolicy('default', { policiesDir })).container).toEqual(
      PolicySchema.parse({}).container,
    );
  });

  it('names an unknown policy and lists the available ones', async () => {
    await expect(loadPolicy('nope', { policiesDir })).rejects.toThrow(
      'no policy named "nope" (available: default, networked, strict)',
    );
  });

  it('lists every schema problem with its path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pol-'));
    const file = join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({
        container: { memoryMb: 1, runtime: 'kata' },
        limits: { defaultTimeoutMs: 9e6 },
        extra: 1,
      }),
    );
    const err = await loadPolicy(file, { policiesDir }).catch((e: Error) => e.message);
    expect(err).toContain('container.memoryMb');
    expect(err).toContain('container.runtime');
    expect(err).toContain('limits.defaultTimeoutMs');
    expect(err).toContain('extra');
    await writeFile(file, '{ nope');
    await expect(loadPolicy(file, { policiesDir })).rejects.toThrow('not valid JSON');
  });

  it('RUN_ARGS replaces the policy permissions; the workspace mode clamps both', () => {
    const rw = PolicySchema.parse({ deno: { permissions: { read: ['/workspace'], write: ['/workspace'] } } });
    expect(effectivePermissions(rw, undefined)).toEqual({ read: ['/workspace'], write: ['/workspace'] });
    expect(effectivePermissions(rw, { net: true })).toEqual({ net: true });
    expect(effectivePermissions(rw, {})).toEqual({ read: ['/workspace'], write: ['/workspace'] });
    const ro = PolicySchema.parse({ workspace: { mode: 'ro' } });
    expect(effectivePermissions(ro, { read: ['/workspace'], write: ['/workspace/x', '/tmp'] })).toEqual({
      read: ['/workspace'],
      write: ['/tmp'],
    });
    const none = PolicySchema.parse({ workspace: { mode: 'none' } });
    expect(effectivePermissions(none, { read: ['/workspace'], write: ['/workspace'], net: true })).toEqual({
      net: true,
    });
    expect(effectivePermissions(none, { read: true })).toEqual({ read: true });
  });
});

describe('deno flags', () => {
  it('renders grants in a stable order and merges with the socket grant', () => {
    const merged = mergePermissions(
      { net: ['a.com'], read: ['/workspace'] },
      { read: ['/run/conductor/mcp.sock'], net: ['unix:/s'] },
    );
    expect(denoPermissionFlags(merged)).toEqual([
      '--allow-read=/workspace,/run/conductor/mcp.sock',
      '--allow-net=a.com,unix:/s',
    ]);
    expect(denoPermissionFlags(mergePermissions({ net: true }, { net: ['unix:/s'] }))).toEqual([
      '--allow-net',
    ]);
    expect(denoPermissionFlags({})).toEqual([]);
  });

  it('describes grants for the model', () => {
    expect(describePermissions({})).toMatch(/^none/);
    expect(describePermissions({ read: ['/workspace'], net: true, run: ['gh', 'git'] })).toBe(
      'read: /workspace; net: any host; run: gh, git',
    );
  });
});

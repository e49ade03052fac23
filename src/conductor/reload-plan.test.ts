import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { readSettings } from '../config/env.js';
import { ConfigError } from '../core/index.js';
import { createAdminInputs } from './admin-inputs.js';
import { planReload, readConfigSnapshot } from './reload-plan.js';

const policiesDir = new URL('../../policies', import.meta.url).pathname;
const token = (c: string) => c.repeat(64);

let dir: string;
let env: Record<string, string>;
const files = () => ({
  tenants: join(dir, 'tenants.json'),
  mcp: join(dir, 'mcp.json'),
  policy: join(dir, 'own.json'),
});
const write = (path: string, value: unknown) => writeFile(path, JSON.stringify(value));
const snapshot = () => {
  const settings = readSettings(env);
  return readConfigSnapshot(
    { settings, policiesDir, tenants: true },
    createAdminInputs(settings, env, policiesDir),
  );
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'reload-plan-'));
  env = { MCP_CONDUCTOR_TENANTS: files().tenants, MCP_CONDUCTOR_MCP_CONFIG: files().mcp };
  await write(files().mcp, { mcpServers: { a: { command: 'node', args: ['a.js'] } } });
  await write(files().policy, { deno: { permissions: { read: ['/workspace'] } } });
  await write(files().tenants, {
    tenants: [
      { id: 'one', tokenSha256: token('1'), policy: 'strict' },
      { id: 'two', tokenSha256: token('2'), policy: files().policy },
    ],
  });
});

describe('readConfigSnapshot and planReload', () => {
  it('watches mcp.json, the tenants file and each policy in use', async () => {
    const s = await snapshot();
    expect(s.files).toEqual([files().mcp, files().tenants, join(policiesDir, 'strict.json'), files().policy]);
  });

  it('watches the secret files and changes the context whose secret was rotated', async () => {
    const secrets = join(dir, 'secrets');
    await mkdir(secrets);
    await writeFile(join(secrets, 'API_TOKEN'), 'first-token-value\n');
    await writeFile(join(dir, 'gh-token'), 'ghp_first-value');
    await write(files().policy, {
      egress: {
        allow: ['api.example.com'],
        secrets: {
          API_TOKEN: { env: 'API_TOKEN', hosts: ['api.example.com'] },
          GH: { file: join(dir, 'gh-token'), hosts: ['api.example.com'] },
        },
      },
    });
    env.MCP_CONDUCTOR_SECRETS_DIR = secrets;
    const before = await snapshot();
    expect(before.files.slice(-2)).toEqual([join(dir, 'gh-token'), join(secrets, 'API_TOKEN')]);
    expect(planReload(before, await snapshot()).changed).toEqual(new Set());
    await writeFile(join(secrets, 'API_TOKEN'), 'second-token-value\n');
    const rotated = await snapshot();
    expect(planReload(before, rotated).changed).toEqual(new Set(['two']));
    await writeFile(join(dir, 'gh-token'), 'ghp_second-value');
    expect(planReload(rotated, await snapshot()).changed).toEqual(new Set(['two']));
  });

  it('changes only the contexts whose tenant entry, policy or upstream servers differ', async () => {
    const before = await snapshot();
    expect(planReload(before, await snapshot()).changed).toEqual(new Set());
    await write(files().policy, { deno: { permissions: { read: ['/workspace'], env: true } } });
    expect(planReload(before, await snapshot()).changed).toEqual(new Set(['two']));
    await write(files().tenants, {
      tenants: [
        { id: 'one', tokenSha256: token('1'), policy: 'strict', maxConcurrent: 3 },
        { id: 'three', tokenSha256: token('3') },
      ],
    });
    const after = await snapshot();
    const plan = planReload(before, after);
    expect(plan.changed).toEqual(new Set(['one', 'two', 'three']));
    expect(plan.tenants?.map((t) => t.id)).toEqual(['one', 'three']);
    expect(plan.inputs).toBe(after.inputs);
    await write(files().mcp, { mcpServers: { b: { command: 'node', args: ['b.js'] } } });
    expect(planReload(after, await snapshot()).changed).toEqual(new Set(['one', 'three']));
  });

  it('turns off only a server whose mcp.json entry broke, and says so in the warnings', async () => {
    const before = await snapshot();
    await write(files().mcp, {
      mcpServers: {
        a: { command: 'node', args: ['a.js'] },
        b: { type: 'sse', command: 'x' },
        c: { url: 'x', disabled: true },
      },
    });
    const after = await snapshot();
    expect(planReload(before, after).changed).toEqual(new Set());
    expect(after.warnings).toEqual([
      'server "c" is disabled ("disabled": true): skipped',
      'server "b" is off (its entry is invalid; the other servers still work): mcpServers.b: "sse" is a server at a "url": "command" is for one the conductor starts',
    ]);
  });

  it('refuses a file that fails validation, saying which and why', async () => {
    await writeFile(files().policy, '{ "deno": { "permissions": { "read": ["relative/path"] } } }');
    await expect(snapshot()).rejects.toThrow(/own\.json[\s\S]*relative\/path/);
    await writeFile(files().tenants, '{ "tenants": [');
    await expect(snapshot()).rejects.toBeInstanceOf(ConfigError);
  });

  it('leaves a change to the identity provider section for a restart', async () => {
    const before = await snapshot();
    await write(files().tenants, {
      oauth: { issuer: 'https://idp.example.com', audience: 'https://mcp.example.com/mcp' },
      tenants: [{ id: 'one', tokenSha256: token('1') }],
    });
    const after = await snapshot();
    expect(() => planReload(before, after)).toThrow(/"oauth" section changed: restart/);
  });
});

import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSettings } from '../config/env.js';
import { createAdminInputs } from './admin-inputs.js';

const policiesDir = new URL('../../policies', import.meta.url).pathname;

describe('admin inputs: mcp.json', () => {
  it('fills ${NAME} from MCP_CONDUCTOR_SECRETS_DIR, the environment winning, and names the tenant', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inputs-'));
    const secrets = join(dir, 'secrets');
    await mkdir(secrets);
    await writeFile(join(secrets, 'SEARCH_KEY'), 'from-file\n');
    await writeFile(join(secrets, 'REGION'), 'file-region\n');
    const config = join(dir, 'mcp.json');
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: {
          search: {
            url: 'https://mcp.example.com/mcp',
            headers: {
              Authorization: 'Bearer ${SEARCH_KEY}',
              'X-Region': '${REGION}',
              'X-Tenant': '${MCP_CONDUCTOR_TENANT}',
            },
          },
        },
      }),
    );
    const env = {
      MCP_CONDUCTOR_MCP_CONFIG: config,
      MCP_CONDUCTOR_SECRETS_DIR: secrets,
      REGION: 'env-region',
    };
    const inputs = createAdminInputs(readSettings(env), env, policiesDir);
    expect((await inputs.mcpConfig('acme'))?.mcpServers.search).toMatchObject({
      headers: { Authorization: 'Bearer from-file', 'X-Region': 'env-region', 'X-Tenant': 'acme' },
    });
  });

  it('reports a secrets directory it cannot read as the admin’s error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inputs-'));
    const config = join(dir, 'mcp.json');
    await writeFile(config, JSON.stringify({ mcpServers: {} }));
    const env = { MCP_CONDUCTOR_MCP_CONFIG: config, MCP_CONDUCTOR_SECRETS_DIR: join(dir, 'missing') };
    const inputs = createAdminInputs(readSettings(env), env, policiesDir);
    await expect(inputs.mcpConfig('local')).rejects.toThrow(/MCP_CONDUCTOR_SECRETS_DIR .* cannot be read/);
  });
});

describe('admin inputs: egress secrets', () => {
  it('reads an `env` source from MCP_CONDUCTOR_SECRETS_DIR too, the environment winning, and says where it looked', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'inputs-'));
    const secrets = join(dir, 'secrets');
    await mkdir(secrets);
    await writeFile(join(secrets, 'API_TOKEN'), 'token-from-a-file\n');
    await writeFile(join(secrets, 'OTHER_TOKEN'), 'other-from-a-file\n');
    const policy = join(dir, 'egress.json');
    const secret = (env: string) => ({ env, hosts: ['api.example.com'] });
    await writeFile(
      policy,
      JSON.stringify({
        egress: {
          allow: ['api.example.com'],
          secrets: { API: secret('API_TOKEN'), OTHER: secret('OTHER_TOKEN') },
        },
      }),
    );
    const env = { MCP_CONDUCTOR_SECRETS_DIR: secrets, OTHER_TOKEN: 'other-from-the-environment' };
    const setup = await createAdminInputs(readSettings(env), env, policiesDir).egress(policy);
    expect(setup?.secrets.map((s) => [s.name, s.value()])).toEqual([
      ['API', 'token-from-a-file'],
      ['OTHER', 'other-from-the-environment'],
    ]);

    await writeFile(
      policy,
      JSON.stringify({ egress: { allow: ['api.example.com'], secrets: { M: secret('MISSING') } } }),
    );
    await expect(createAdminInputs(readSettings(env), env, policiesDir).egress(policy)).rejects.toThrow(
      `policy "${policy}": egress secret M: the environment variable MISSING is not set, nor is there a file MISSING in MCP_CONDUCTOR_SECRETS_DIR ${secrets}`,
    );
  });
});

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { readSettings } from './env.js';

describe("the original MCP Conductor's environment names", () => {
  it('reads MCP_CONDUCTOR_PROXY_CONFIG as MCP_CONDUCTOR_MCP_CONFIG, explicit, with a notice', () => {
    const s = readSettings({ MCP_CONDUCTOR_PROXY_CONFIG: '/etc/conductor/mcp.json' });
    expect(s.mcpConfigPath).toBe('/etc/conductor/mcp.json');
    expect(s.mcpConfigExplicit).toBe(true);
    expect(s.notices).toEqual([
      "MCP_CONDUCTOR_PROXY_CONFIG (the original MCP Conductor's name) is read as MCP_CONDUCTOR_MCP_CONFIG; rename it",
    ]);
  });

  it('lets MCP_CONDUCTOR_MCP_CONFIG win over MCP_CONDUCTOR_PROXY_CONFIG, and says so', () => {
    const s = readSettings({
      MCP_CONDUCTOR_PROXY_CONFIG: '/old.json',
      MCP_CONDUCTOR_MCP_CONFIG: '/new.json',
    });
    expect(s.mcpConfigPath).toBe('/new.json');
    expect(s.notices).toEqual([
      expect.stringMatching(/PROXY_CONFIG .* is ignored: MCP_CONDUCTOR_MCP_CONFIG is set/),
    ]);
  });

  it('moves the defaults below MCP_CONDUCTOR_BASE_DIR; a variable of ours still wins', () => {
    const s = readSettings({ MCP_CONDUCTOR_BASE_DIR: '/srv/mc' });
    expect([s.workspaceDir, s.mcpConfigPath, s.playbooksDir, s.retainedDir]).toEqual([
      join('/srv/mc', 'workspace'),
      join('/srv/mc', 'mcp.json'),
      join('/srv/mc', 'playbooks'),
      join('/srv/mc', 'retained'),
    ]);
    expect(s.mcpConfigExplicit).toBe(false);
    expect(s.notices).toEqual([expect.stringMatching(/^MCP_CONDUCTOR_BASE_DIR .* below \/srv\/mc$/)]);
    const both = readSettings({ MCP_CONDUCTOR_BASE_DIR: '/srv/mc', MCP_CONDUCTOR_WORKSPACE: '/data/ws' });
    expect([both.workspaceDir, both.mcpConfigPath]).toEqual(['/data/ws', join('/srv/mc', 'mcp.json')]);
  });

  it('says which line of ours a RUN_ARGS in the original format equals', () => {
    const s = readSettings({ MCP_CONDUCTOR_RUN_ARGS: '--allow-read=/workspace;--allow-net' });
    expect(s.runArgs).toBe('--allow-read=/workspace;--allow-net');
    expect(s.notices).toEqual([
      'MCP_CONDUCTOR_RUN_ARGS is in the original MCP Conductor\'s format (entries split by ";"); it grants the same as MCP_CONDUCTOR_RUN_ARGS=allow-read=/workspace,allow-net',
    ]);
  });

  it('says MCP_CONDUCTOR_ALLOWED_PACKAGES is not read, and where the importable packages come from', () => {
    const s = readSettings({ MCP_CONDUCTOR_ALLOWED_PACKAGES: 'npm:zod,npm:lodash' });
    expect(s.notices).toEqual([
      expect.stringMatching(
        /^MCP_CONDUCTOR_ALLOWED_PACKAGES .* is not read: code imports the packages pre-cached in the sandbox image/,
      ),
    ]);
  });

  it('has no notice for our own names, nor for legacy ones set empty', () => {
    const s = readSettings({
      MCP_CONDUCTOR_RUN_ARGS: 'allow-net',
      MCP_CONDUCTOR_PROXY_CONFIG: '',
      MCP_CONDUCTOR_DEFAULT_TIMEOUT: '',
    });
    expect(s.notices).toEqual([]);
  });

  it('refuses the timeouts and the return cap with the policy lines to write', () => {
    const env = {
      MCP_CONDUCTOR_DEFAULT_TIMEOUT: '10000',
      MCP_CONDUCTOR_MAX_TIMEOUT: '30000',
      MCP_CONDUCTOR_MAX_RETURN_SIZE: '262144',
    };
    expect(() => readSettings(env)).toThrow(ConfigError);
    expect(() => readSettings(env)).toThrow(
      [
        "the environment uses the original MCP Conductor's names for what are policy limits here:",
        '- MCP_CONDUCTOR_DEFAULT_TIMEOUT: write limits.defaultTimeoutMs in the policy',
        '- MCP_CONDUCTOR_MAX_TIMEOUT: write limits.maxTimeoutMs in the policy',
        '- MCP_CONDUCTOR_MAX_RETURN_SIZE: write limits.maxReturnBytes in the policy',
        'put "limits": { "defaultTimeoutMs": 10000, "maxTimeoutMs": 30000, "maxReturnBytes": 262144 } in a policy ' +
          'file, set MCP_CONDUCTOR_POLICY to its path and unset MCP_CONDUCTOR_DEFAULT_TIMEOUT, ' +
          'MCP_CONDUCTOR_MAX_TIMEOUT, MCP_CONDUCTOR_MAX_RETURN_SIZE',
      ].join('\n'),
    );
  });

  it.each(['30s', '1e9', '-5', '1; rm -rf /', '99999999999'])(
    'never copies a non-number %j into the policy line',
    (value) => {
      expect(() => readSettings({ MCP_CONDUCTOR_MAX_TIMEOUT: value })).toThrow(
        'put "limits": { "maxTimeoutMs": <number> } in a policy file',
      );
    },
  );
});

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { readSettings } from './env.js';

describe('single-tenant quotas from the environment', () => {
  it('reads MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE, _MCP_CALLS_PER_MINUTE and _WORKSPACE_QUOTA_MB; none set, no limit', () => {
    expect(readSettings({}).quotas).toEqual({
      executionsPerMinute: undefined,
      mcpCallsPerMinute: undefined,
      workspaceQuotaMb: undefined,
    });
    expect(
      readSettings({
        MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE: '30',
        MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE: '600',
        MCP_CONDUCTOR_WORKSPACE_QUOTA_MB: '1024',
      }).quotas,
    ).toEqual({ executionsPerMinute: 30, mcpCallsPerMinute: 600, workspaceQuotaMb: 1024 });
  });

  const refused: [string, string, string][] = [
    ['MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', '0', 'must be at least 1'],
    ['MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', '-5', 'must be at least 1'],
    ['MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', '2.5', 'must be a whole number'],
    ['MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', 'unlimited', 'must be a whole number'],
    ['MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', 'Infinity', 'must be a whole number'],
    ['MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', '100001', 'must be at most 100000'],
    ['MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE', '0', 'must be at least 1'],
    ['MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE', '1000001', 'must be at most 1000000'],
    ['MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE', 'NaN', 'must be a whole number'],
    // A filesystem smaller than 16 MB has no room for ext4's own metadata; a quota of 0 would not be a quota.
    ['MCP_CONDUCTOR_WORKSPACE_QUOTA_MB', '0', 'must be at least 16'],
    ['MCP_CONDUCTOR_WORKSPACE_QUOTA_MB', '15', 'must be at least 16'],
    ['MCP_CONDUCTOR_WORKSPACE_QUOTA_MB', '1048577', 'must be at most 1048576'],
    ['MCP_CONDUCTOR_WORKSPACE_QUOTA_MB', '64MB', 'must be a whole number'],
    ['MCP_CONDUCTOR_WORKSPACE_QUOTA_MB', '1e3', 'must be a whole number'],
    ['MCP_CONDUCTOR_MAX_CONCURRENCY', '0x10', 'must be a whole number'],
    ['MCP_CONDUCTOR_POOL_SIZE', ' 2 ', 'must be a whole number'],
  ];
  for (const [name, value, why] of refused)
    it(`refuses ${name}=${value} at start, naming the variable`, () => {
      expect(() => readSettings({ [name]: value })).toThrow(ConfigError);
      expect(() => readSettings({ [name]: value })).toThrow(`${name}: ${name} ${why}`);
    });
});

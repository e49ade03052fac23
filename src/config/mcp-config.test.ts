import { describe, expect, it } from 'vitest';
import { loadMcpConfig } from './mcp-config.js';

const load = (json: unknown, env: Record<string, string | undefined> = {}) =>
  loadMcpConfig('mcp.json', env, () => Promise.resolve(JSON.stringify(json)));

describe('mcp.json', () => {
  it('reads stdio and HTTP servers in the Claude Desktop format, expanding ${VAR} in env and headers', async () => {
    const config = await load(
      {
        mcpServers: {
          gh: { command: 'npx', args: ['-y', 'server-github'], env: { TOKEN: '${GH_TOKEN}' } },
          remote: { url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer ${API_KEY}' } },
        },
      },
      { GH_TOKEN: 'ghp_1', API_KEY: 'k' },
    );
    expect(config.mcpServers.gh).toEqual({
      command: 'npx',
      args: ['-y', 'server-github'],
      env: { TOKEN: 'ghp_1' },
    });
    expect(config.mcpServers.remote).toEqual({
      url: 'https://mcp.example.com/mcp',
      headers: { Authorization: 'Bearer k' },
    });
  });

  it('lists every problem and names unset variables without leaking values', async () => {
    await expect(
      load({ mcpServers: { 'bad name!': { command: 'x' }, ok: { url: 'ftp://x' }, also: {} } }),
    ).rejects.toThrow(/bad name![\s\S]*ok/);
    const err = await load(
      { mcpServers: { a: { command: 'x', env: { T: '${MISSING}', U: '${SET}' } } } },
      { SET: 'secret-value' },
    ).catch((e: Error) => e.message);
    expect(err).toContain('MISSING is not set');
    expect(err).not.toContain('secret-value');
  });
});

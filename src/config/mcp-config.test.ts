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

  it('says which key a server is missing, and the near miss that was meant', async () => {
    const message = (json: unknown) =>
      load(json).then(
        () => 'accepted',
        (e: Error) => e.message,
      );
    expect(await message({ mcpServers: { gh: { comand: 'npx', args: [] } } })).toBe(
      'the MCP config mcp.json is invalid:\n- mcpServers.gh: a server needs "command" (one the conductor starts) or "url" (an HTTP server); unknown key "comand" (did you mean "command"?)',
    );
    expect(await message({ mcpServers: { gh: { command: 'npx', agrs: [] } } })).toContain(
      'mcpServers.gh: unknown key "agrs" (did you mean "args"?)',
    );
    expect(await message({ mcpServers: { gh: { Url: 'https://x.example' } } })).toContain(
      'unknown key "Url" (did you mean "url"?)',
    );
    expect(await message({ mcpServers: { gh: { command: 'x', url: 'https://x.example' } } })).toContain(
      'not both',
    );
    // Only the form that was meant is checked: one line, at the key that is wrong.
    expect(await message({ mcpServers: { gh: { command: 7 } } })).toBe(
      'the MCP config mcp.json is invalid:\n- mcpServers.gh.command: Invalid input: expected string, received number',
    );
    expect(await message({ mcpServers: { gh: { command: 'x', id: 1 } } })).toContain(
      'Unrecognized key: "id"',
    );
  });

  it('reads VS Code\'s "servers" shape, and warns about the shape it read', async () => {
    const vscode = await load({
      servers: { mem: { type: 'stdio', command: 'npx', args: ['m'] } },
      inputs: [],
    });
    expect(Object.keys(vscode.mcpServers)).toEqual(['mem']);
    expect(vscode.warnings).toEqual([
      'it uses VS Code\'s "servers" key: read as "mcpServers" (the Claude Desktop name)',
    ]);
    const both = await load({ mcpServers: { a: { command: 'a' } }, servers: { b: { command: 'b' } } });
    expect(Object.keys(both.mcpServers)).toEqual(['a']);
    expect(both.warnings[0]).toContain('only "mcpServers" is used');
    const neither = await load({ globalShortcut: 'x' });
    expect(neither.mcpServers).toEqual({});
    expect(neither.warnings).toEqual([
      'it has no "mcpServers" (nor VS Code\'s "servers"): no upstream servers',
    ]);
    expect((await load({ mcpServers: {} })).warnings).toEqual([]);
  });
});

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

  it("disables only the broken entries, naming each problem, never a variable's value", async () => {
    const config = await load(
      {
        mcpServers: {
          'bad name!': { command: 'x' },
          ok: { url: 'ftp://x' },
          also: {},
          a: { command: 'x', env: { T: '${MISSING}', U: '${SET}' } },
          good: { command: 'node', env: { U: '${SET}' } },
        },
      },
      { SET: 'secret-value' },
    );
    expect(Object.keys(config.mcpServers)).toEqual(['good']);
    expect(config.broken).toEqual([
      {
        name: '"bad name!"',
        problem: expect.stringMatching(/^mcpServers\.bad name!: server names are/) as string,
      },
      { name: 'ok', problem: 'mcpServers.ok.url: url must be http(s)' },
      {
        name: 'also',
        problem: expect.stringMatching(/^mcpServers\.also: a server needs "command"/) as string,
      },
      { name: 'a', problem: 'mcpServers.a.env.T: the environment variable MISSING is not set' },
    ]);
    expect(JSON.stringify(config.broken)).not.toContain('secret-value');
  });

  /** The problem of the one entry `gh`, or 'accepted'. */
  const problem = async (entry: unknown) => {
    const config = await load({ mcpServers: { gh: entry } });
    return config.broken[0]?.problem ?? 'accepted';
  };

  it('says which key a server is missing, and the near miss that was meant', async () => {
    expect(await problem({ comand: 'npx', args: [] })).toBe(
      'mcpServers.gh: a server needs "command" (one the conductor starts) or "url" (an HTTP server); unknown key "comand" (did you mean "command"?)',
    );
    expect(await problem({ command: 'npx', agrs: [] })).toBe(
      'mcpServers.gh: unknown key "agrs" (did you mean "args"?)',
    );
    expect(await problem({ Url: 'https://x.example' })).toContain('unknown key "Url" (did you mean "url"?)');
    expect(await problem({ command: 'x', trasnport: 'stdio' })).toContain('did you mean "transport"?');
    expect(await problem({ command: 'x', url: 'https://x.example' })).toContain('not both');
    // Only the form that was meant is checked: one line, at the key that is wrong.
    expect(await problem({ command: 7 })).toBe(
      'mcpServers.gh.command: Invalid input: expected string, received number',
    );
    expect(await problem({ command: 'x', id: 1 })).toContain('Unrecognized key: "id"');
  });

  it.each([
    [
      { command: 'npx', type: 'stdio' },
      { command: 'npx', args: [], env: {} },
    ],
    [
      { command: 'npx', transport: 'stdio', disabled: false },
      { command: 'npx', args: [], env: {} },
    ],
    [
      { url: 'https://a.example/mcp', type: 'http' },
      { url: 'https://a.example/mcp', headers: {} },
    ],
    [
      { url: 'https://a.example/mcp', type: 'streamable-http' },
      { url: 'https://a.example/mcp', headers: {} },
    ],
    [
      { url: 'https://a.example/mcp', transport: 'streamable-http', type: 'http' },
      { url: 'https://a.example/mcp', headers: {} },
    ],
    [
      { url: 'http://a.example/sse', type: 'sse' },
      { url: 'http://a.example/sse', headers: {}, transport: 'sse' },
    ],
    [
      { url: 'http://a.example/sse', transport: 'sse', headers: { A: 'b' } },
      { url: 'http://a.example/sse', headers: { A: 'b' }, transport: 'sse' },
    ],
  ])('reads %j as the clients mean it', async (entry, expected) => {
    const config = await load({ mcpServers: { gh: entry } });
    expect(config.broken).toEqual([]);
    expect(config.mcpServers.gh).toEqual(expected);
  });

  it.each([
    [
      { url: 'https://a.example', type: 'sse', transport: 'http' },
      '"type" ("sse") and "transport" ("http") disagree',
    ],
    [
      { url: 'https://a.example', type: 'stdio' },
      '"stdio" is a server the conductor starts: it needs "command"',
    ],
    [
      { command: 'x', transport: 'sse' },
      '"sse" is a server at a "url": "command" is for one the conductor starts',
    ],
    [{ command: 'x', type: 'http' }, '"http" is a server at a "url"'],
    [{ url: 'https://a.example', type: 'websocket' }, 'mcpServers.gh.type: Invalid option'],
    [{ url: 'https://a.example', type: 7 }, 'mcpServers.gh.type: Invalid option'],
    [{ command: 'x', disabled: 'true' }, 'mcpServers.gh.disabled: Invalid input: expected boolean'],
    [{ url: 'https://a.example', disabled: 1 }, 'mcpServers.gh.disabled: Invalid input: expected boolean'],
  ])('refuses %j, disabling that server only', async (entry, message) => {
    expect(await problem(entry)).toContain(message);
  });

  it('skips a disabled server without checking it, and says so once', async () => {
    const config = await load({
      mcpServers: {
        off: { command: 'x', disabled: true },
        offBroken: { comand: 'x', disabled: true },
        on: { command: 'y' },
      },
    });
    expect(Object.keys(config.mcpServers)).toEqual(['on']);
    expect(config.broken).toEqual([]);
    expect(config.warnings).toEqual([
      'server "off" is disabled ("disabled": true): skipped',
      'server "offBroken" is disabled ("disabled": true): skipped',
    ]);
  });

  it('shows a hostile server name quoted, cut short and escaped, and never keeps it', async () => {
    const config = await load(
      JSON.parse(
        `{"mcpServers": {"__proto__": {"command": "x"}, "${'a\\u202e'.repeat(100)}": {"command": "x", "disabled": true}}}`,
      ),
    );
    expect(Object.keys(config.mcpServers)).toEqual([]);
    expect(config.broken.map((b) => b.name)).toEqual(['"__proto__"']);
    expect(config.warnings[0]).toBe(
      `server "${'"' + 'a?'.repeat(32) + '"'}" is disabled ("disabled": true): skipped`,
    );
  });

  it('still refuses a file whose server list is not an object', async () => {
    await expect(load({ mcpServers: [] })).rejects.toThrow(
      /MCP config mcp\.json is invalid:\n- mcpServers: /,
    );
    await expect(load({ servers: 'x' })).rejects.toThrow(/- servers: /);
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

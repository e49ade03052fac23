import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMcpConfig } from './mcp-config.js';
import { readSecretFiles, withSecretFiles } from './secret-files.js';

async function secretsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'secrets-'));
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  return dir;
}

describe('secret files', () => {
  it('reads each file named like a variable, without the one trailing newline', async () => {
    const dir = await secretsDir({ GITHUB_TOKEN: 'ghp_abc\n', search_key: 'k\r\n', kept: 'two\n\n' });
    expect(await readSecretFiles(dir)).toEqual({ GITHUB_TOKEN: 'ghp_abc', search_key: 'k', kept: 'two\n' });
  });

  it('skips dot files, names that are no variable, directories, and Kubernetes’ ..data links to directories', async () => {
    const dir = await secretsDir({ '.hidden': 'x', 'my-token': 'x', TOKEN: 't' });
    await mkdir(join(dir, 'DIR'));
    await symlink(join(dir, 'DIR'), join(dir, 'LINKED_DIR'));
    await writeFile(join(dir, 'DIR', 'inner'), 'x');
    await symlink(join(dir, 'DIR', 'inner'), join(dir, 'LINKED'));
    expect(await readSecretFiles(dir)).toEqual({ TOKEN: 't', LINKED: 'x' });
  });

  it('refuses a file too large to be a secret, and a directory it cannot read, without the content', async () => {
    const dir = await secretsDir({ BIG: 's3cr3t'.repeat(200_000) });
    await expect(readSecretFiles(dir)).rejects.toThrow(/BIG is larger than 1048576 bytes/);
    await expect(readSecretFiles(join(dir, 'missing'))).rejects.toThrow(
      /MCP_CONDUCTOR_SECRETS_DIR .* cannot be read/,
    );
  });

  it('fills ${VAR} in mcp.json from the files, the environment winning', async () => {
    const dir = await secretsDir({ SEARCH_KEY: 'from-file', OTHER: 'file' });
    const config = join(dir, 'mcp.json');
    await writeFile(
      config,
      JSON.stringify({
        mcpServers: {
          search: {
            url: 'https://mcp.example.com/mcp',
            headers: { A: 'Bearer ${SEARCH_KEY}', B: '${OTHER}' },
          },
        },
      }),
    );
    const env = await withSecretFiles({ OTHER: 'env' }, dir);
    const loaded = await loadMcpConfig(config, env);
    expect(loaded.mcpServers.search).toMatchObject({ headers: { A: 'Bearer from-file', B: 'env' } });
    expect(await withSecretFiles({ A: '1' }, undefined)).toEqual({ A: '1' });
  });
});

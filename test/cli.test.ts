import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ENV_HELP } from '../src/config/env.js';
import { cliPath, freePort, repoRoot } from './helpers.js';

/** Runs the built CLI to its end (no Docker needed for these) and gives what a person would see. */
function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [cliPath, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env }, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
    );
  });
}

describe('what a person reads from the command line', () => {
  it('--help of each serving command lists every environment variable, as the README table does', async () => {
    const readme = await readFile(join(repoRoot, 'README.md'), 'utf8');
    for (const args of [['--help'], ['stdio', '--help'], ['serve', '--help'], ['doctor', '--help']]) {
      const { code, stdout } = await cli(args);
      expect(code).toBe(0);
      expect(stdout).toContain('Environment (read once at start-up');
      expect(stdout).toContain('are watched: a change is in force within\n5 s (SIGHUP: at once)');
      for (const [name, meaning] of Object.entries(ENV_HELP)) {
        expect(stdout).toContain(`${name}`);
        expect(stdout).toContain(meaning);
        expect(readme).toMatch(new RegExp(`^\\| [^|]*\`${name}\``, 'm'));
      }
    }
    const image = await cli(['image', '--help']);
    expect(image.stdout).toContain('NPM_CONFIG_REGISTRY');
    expect(image.stdout).not.toContain('MCP_CONDUCTOR_RUN_ARGS');
  });

  it('a bad option value, an unknown option or command is one line and exit 1, not the help text', async () => {
    const cases: [string[], string][] = [
      [
        ['serve', '--port', 'abc'],
        "mcp-conductor: option '--port <port>' argument 'abc' is invalid. port must be a whole number from 0 to 65535\n",
      ],
      [
        ['serve', '--grace', 'soon'],
        "mcp-conductor: option '--grace <duration>' argument 'soon' is invalid. grace must be a duration: milliseconds, or a number with ms, s, m or h (e.g. 30s)\n",
      ],
      [['stdio', '--bogus'], "mcp-conductor: unknown option '--bogus'\n"],
      [['bogus'], "mcp-conductor: unknown command 'bogus'\n"],
    ];
    for (const [args, line] of cases) {
      const { code, stdout, stderr } = await cli(args);
      expect({ args, code, stdout, stderr }).toEqual({ args, code: 1, stdout: '', stderr: line });
    }
  });

  it('a port in use is one line and exit 1, before anything starts', async () => {
    const port = await freePort();
    const taken = createServer().listen(port, '127.0.0.1');
    await once(taken, 'listening');
    try {
      const { code, stdout, stderr } = await cli(['serve', '--port', String(port)], {
        MCP_CONDUCTOR_LOG_LEVEL: 'info',
      });
      expect(code).toBe(1);
      expect(stdout).toBe('');
      expect(stderr).toBe(
        `mcp-conductor: 127.0.0.1:${port} is already in use (another conductor or server?): stop it, or pass another --port\n`,
      );
    } finally {
      taken.close();
    }
  });
});

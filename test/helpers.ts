import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ExecutionResult } from '../src/core/index.js';
import { createDockerClient } from '../src/docker/index.js';

export const repoRoot = new URL('..', import.meta.url).pathname;
export const cliPath = join(repoRoot, 'dist', 'cli.js');
export const fixturePolicy = (name: string) => join(repoRoot, 'test', 'fixtures', 'policies', `${name}.json`);

export interface Conductor {
  client: Client;
  stderr: () => string;
  run(code: string, timeout?: number): Promise<{ text: string; result: ExecutionResult; isError: boolean }>;
  close(): Promise<void>;
}

/** Starts `mcp-conductor stdio` as a real child process and connects the SDK's client to it. */
export async function startStdio(env: Record<string, string> = {}): Promise<Conductor> {
  const workspace = env.MCP_CONDUCTOR_WORKSPACE ?? (await mkdtemp(join(tmpdir(), 'mcpc-ws-')));
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cliPath, 'stdio'],
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      MCP_CONDUCTOR_LOG_LEVEL: 'warn',
      MCP_CONDUCTOR_WORKSPACE: workspace,
      ...env,
    },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'conductor-test', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    stderr: () => stderr,
    async run(code, timeout) {
      const r = (await client.callTool({ name: 'run_deno_code', arguments: { deno_code: code, ...(timeout ? { timeout } : {}) } }, undefined, {
        timeout: 300_000,
      })) as CallToolResult;
      const text = r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
      return { text, result: r.structuredContent as ExecutionResult, isError: r.isError === true };
    },
    close: () => client.close(),
  };
}

/** Every Docker suite ends here: no labelled container and no socket directory may be left behind. */
export async function expectNoLeftovers(): Promise<void> {
  const docker = createDockerClient();
  let left = await docker.listManaged();
  for (let i = 0; i < 50 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await docker.listManaged();
  }
  expect(left.map((c) => c.labels['mcp-conductor.execution-id'])).toEqual([]);
  const base = join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
  const dirs = await readdir(base).catch(() => [] as string[]);
  expect(dirs).toEqual([]);
}

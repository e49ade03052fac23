// A client pointed at `make stdio` (the Makefile, not the built CLI) reads its stdout as JSON-RPC: anything else
// there (make echoing the recipe, "Entering directory", npm or tsc output) is a parse error in the client.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { expectNoLeftovers, repoRoot } from './helpers.js';

const docker = inject('docker');

/** Runs one call through the SDK's own stdio client over `make …`; every message the client could not parse is kept. */
async function callThroughMake(args: string[], cwd: string) {
  const transport = new StdioClientTransport({
    command: 'make',
    args,
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      MCP_CONDUCTOR_POOL_SIZE: '0',
      MCP_CONDUCTOR_WORKSPACE: await mkdtemp(join(tmpdir(), 'mcpc-ws-')),
    },
    stderr: 'pipe',
  });
  const problems: string[] = [];
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'make-stdio-test', version: '1.0.0' });
  client.onerror = (error) => problems.push(error.message);
  try {
    // A first run builds and sets up before the server answers initialize: more than the SDK's default minute.
    await client.connect(transport, { timeout: 300_000 });
    const result = (await client.callTool(
      { name: 'run_deno_code', arguments: { deno_code: 'console.log("to the result"); 6 * 7' } },
      undefined,
      { timeout: 120_000 },
    )) as CallToolResult;
    return { result, problems, stderr: () => stderr };
  } finally {
    await client.close();
  }
}

describe.skipIf(!docker)('make stdio', () => {
  afterAll(expectNoLeftovers);

  it('gives a client nothing but JSON-RPC on stdout, run from the checkout', async () => {
    const { result, problems, stderr } = await callThroughMake(['stdio'], repoRoot);
    expect(problems).toEqual([]);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      status: 'success',
      returnValue: 42,
      stdout: 'to the result\n',
    });
    expect(stderr()).toContain('conductor ready');
  }, 420_000);

  it('and from another directory with make -s -C (make itself prints "Entering directory" otherwise)', async () => {
    const { result, problems } = await callThroughMake(['-s', '-C', repoRoot, 'stdio'], tmpdir());
    expect(problems).toEqual([]);
    expect(result.structuredContent).toMatchObject({ status: 'success', returnValue: 42 });
  });
});

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { createHash, randomBytes } from 'node:crypto';
import type { ExecutionResult } from '../src/core/index.js';
import { createDockerClient } from '../src/docker/index.js';
import { buildConductorImage, type ConductorImageRef } from '../src/image/index.js';
import { repoRoot } from './helpers.js';

/** One tenant, by default with the policy scripts/deploy/policies/workspace.json (read and write its workspace). */
export function tenantsFile(policy = 'workspace'): { token: string; tenants: unknown } {
  const token = randomBytes(16).toString('hex');
  const tokenSha256 = createHash('sha256').update(token).digest('hex');
  return {
    token,
    tenants: { tenants: [{ id: 'acme', tokenSha256, policy, maxConcurrent: 4 }] },
  };
}

/** mcp-conductor:<version> and :latest from this checkout's dist/ (a no-op when they are current). */
export async function ensureConductorImage(): Promise<ConductorImageRef> {
  return buildConductorImage({
    docker: createDockerClient(),
    packageRoot: repoRoot,
    env: process.env,
    onProgress: (line) => process.stderr.write(`[conductor-image] ${line}\n`),
  });
}

export interface HttpConductor {
  run(code: string, timeoutMs?: number): Promise<ExecutionResult>;
  /** resources/read of a kept output (conductor://executions/…): its whole text */
  read(uri: string): Promise<string>;
  close(): Promise<void>;
}

/** A real SDK client over Streamable HTTP with the tenant's bearer token. */
export async function connectHttp(url: string, token: string): Promise<HttpConductor> {
  const client = new Client({ name: 'deploy-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }),
  );
  return {
    async run(code, timeoutMs = 30_000) {
      const r = (await client.callTool(
        { name: 'run_deno_code', arguments: { deno_code: code, timeout: timeoutMs } },
        undefined,
        { timeout: timeoutMs + 60_000 },
      )) as CallToolResult;
      return r.structuredContent as ExecutionResult;
    },
    async read(uri) {
      const { contents } = await client.readResource({ uri });
      return contents.map((c) => ('text' in c ? c.text : '')).join('');
    },
    close: () => client.close(),
  };
}

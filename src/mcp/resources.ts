import { ResourceTemplate, type McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { RETAINED_STREAMS, type RetainedStream, type RetentionStore } from '../retention/index.js';

/**
 * `conductor://executions/<executionId>/<stdout|stderr|return>`: the whole of an output the result cut short, to
 * the tenant whose execution made it. Anyone else's, an expired and a made-up one all get the SDK's own "not
 * found", so a reply tells nothing about other tenants.
 */
export function registerRetainedResources(server: McpServer, store: RetentionStore, tenant: string): void {
  server.registerResource(
    'execution-output',
    new ResourceTemplate('conductor://executions/{executionId}/{stream}', {
      list: () => ({
        resources: store.list(tenant).map((r) => ({
          uri: r.uri,
          name: r.uri.slice('conductor://executions/'.length),
          mimeType: 'text/plain',
          size: r.bytes,
        })),
      }),
    }),
    {
      title: 'Whole output of an execution',
      description:
        'The whole stdout, stderr or rendered return value (JSON) of a run_deno_code call whose result was truncated; kept for an hour.',
      mimeType: 'text/plain',
    },
    async (uri, variables) => {
      const { executionId, stream } = variables;
      const text =
        typeof executionId === 'string' && RETAINED_STREAMS.includes(stream as RetainedStream)
          ? await store.read(tenant, executionId, stream as RetainedStream)
          : undefined;
      if (text === undefined) throw new McpError(ErrorCode.InvalidParams, `Resource ${uri.href} not found`);
      return { contents: [{ uri: uri.href, mimeType: 'text/plain', text }] };
    },
  );
}

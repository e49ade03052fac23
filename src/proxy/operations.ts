import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { TraceContext } from '../core/index.js';
import type { Allowlist } from './allowlist.js';
import type { CallMessage } from './protocol.js';

/** A call the host refuses or fails, with the code the sandbox sees (`McpError.code`). */
export class CallFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function need(value: string | undefined, what: string): string {
  if (value === undefined) throw new CallFailure('bad_request', `missing ${what}`);
  return value;
}

async function allPages<T>(
  fetch: (cursor?: string) => Promise<{ nextCursor?: string } & Record<string, unknown>>,
  key: string,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const r = await fetch(cursor);
    out.push(...((r[key] as T[] | undefined) ?? []));
    cursor = r.nextCursor;
    if (!cursor) break;
  }
  return out;
}

/**
 * One mcpFactory operation on an upstream server's client. The dispatcher's own deadline (via `signal`) started
 * when the call arrived; the SDK's timeout is a backstop. Only the operations the sandbox API offers exist here.
 * `trace` goes into each request's `_meta` (`traceparent`, `tracestate`: the MCP convention, SEP-414, for every
 * transport); the sandbox never sets `_meta` itself.
 */
export async function perform(
  msg: CallMessage,
  client: Client,
  server: string,
  allow: Allowlist,
  o: { signal: AbortSignal; timeout: number },
  trace?: TraceContext,
): Promise<unknown> {
  const meta = trace ? { _meta: { ...trace } } : {};
  const page = (cursor?: string) =>
    cursor || trace ? { ...(cursor ? { cursor } : {}), ...meta } : undefined;
  switch (msg.op) {
    case 'listTools': {
      const tools = await allPages<{
        name: string;
        description?: string;
        inputSchema: unknown;
        outputSchema?: unknown;
      }>((cursor) => client.listTools(page(cursor), o), 'tools');
      return tools
        .filter((t) => allow.tool(server, t.name))
        .map((t) => ({
          name: t.name,
          description: t.description ?? '',
          inputSchema: t.inputSchema,
          ...(t.outputSchema ? { outputSchema: t.outputSchema } : {}),
        }));
    }
    case 'callTool':
      return client.callTool({ name: msg.name!, arguments: msg.args ?? {}, ...meta }, undefined, o);
    case 'listResources': {
      const resources = await allPages<{ uri: string }>(
        (cursor) => client.listResources(page(cursor), o),
        'resources',
      );
      return resources.filter((r) => allow.resource(server, r.uri));
    }
    case 'readResource':
      return client.readResource({ uri: need(msg.uri, 'resource uri'), ...meta }, o);
    case 'listPrompts': {
      const prompts = await allPages<{ name: string }>(
        (cursor) => client.listPrompts(page(cursor), o),
        'prompts',
      );
      return prompts.filter((p) => allow.prompt(server, p.name));
    }
    case 'getPrompt': {
      const args = Object.fromEntries(
        Object.entries(msg.args ?? {}).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]),
      );
      return client.getPrompt({ name: need(msg.name, 'prompt name'), arguments: args, ...meta }, o);
    }
    case 'list':
    case 'load':
      throw new CallFailure('bad_request', `${msg.op} does not reach a server`);
  }
}

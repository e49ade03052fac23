import { describePermissions } from '../config/deno-flags.js';
import type { ServerContext } from './server.js';

/** The run_deno_code description: what a model needs to write working code on the first try. */
export function describeTool(ctx: ServerContext): string {
  const { policy, permissions } = ctx.profile;
  const servers = ctx.directory?.servers() ?? [];
  const lines = [
    'Runs TypeScript/JavaScript in a fresh, isolated Deno sandbox (one throwaway container per call) and returns only the final value, so intermediate data never enters the conversation.',
    '',
    'How the result is chosen: a top-level `return x` returns x; otherwise the value of the last expression statement is returned. Top-level `await` works. console.log output is returned separately (capped).',
    'Return plain data (objects, arrays, strings, numbers); Map, Set, BigInt, Date and similar are converted to a JSON form.',
    '',
    `Imports: static \`import\` statements work anywhere at top level. Pre-installed packages (no network needed): ${ctx.dependencies.join(', ') || 'none'}, plus Deno's \`node:\` built-ins. ${policy.deno.allowRemoteImports ? 'Remote imports are allowed.' : 'Nothing else can be downloaded.'}`,
    `Permissions: ${describePermissions(permissions)}.${policy.workspace.mode !== 'none' ? ` The directory /workspace is ${policy.workspace.mode === 'ro' ? 'read-only' : 'writable'} and persists between calls; /tmp is a small scratch area that does not.` : ''}`,
    `Limits: ${policy.limits.defaultTimeoutMs} ms by default (timeout parameter, up to ${policy.limits.maxTimeoutMs} ms), ${policy.container.memoryMb} MB of memory, network ${policy.container.network === 'none' ? 'off' : 'restricted to the permissions above'}.`,
  ];
  if (servers.length > 0) {
    lines.push(
      '',
      `MCP servers callable from the code through the global \`mcpFactory\`: ${servers.join(', ')}. Use the get_tools tool to see a server's tools before calling them.`,
      'Example: `const s = await mcpFactory.load("name"); const r = await s.callTool("tool", { arg: 1 }); return r.items.length;`',
      'callTool returns structuredContent, else the parsed JSON text, else the text; it throws on a tool error. Calls may run in parallel with Promise.all. Also: mcpFactory.list(), s.listTools(), s.callToolRaw(), s.listResources(), s.readResource(uri), s.listPrompts(), s.getPrompt(name, args).',
    );
  }
  return lines.join('\n');
}

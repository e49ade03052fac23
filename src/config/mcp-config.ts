import { z } from 'zod';
import { ConfigError } from '../core/index.js';
import { loadJsonConfig } from './json-config.js';

const ServerName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'server names are letters, digits, _ . - (at most 64)');

export const StdioServerSchema = z
  .object({
    type: z.literal('stdio').optional(),
    command: z.string().min(1),
    args: z.array(z.string()).default([]),
    env: z.record(z.string(), z.string()).default({}),
    cwd: z.string().min(1).optional(),
  })
  .strict();

export const HttpServerSchema = z
  .object({
    type: z.enum(['http', 'streamable-http']).optional(),
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//.test(u), 'url must be http(s)'),
    headers: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export const UpstreamServerSchema = z.union([StdioServerSchema, HttpServerSchema]);
export type UpstreamServer = z.infer<typeof UpstreamServerSchema>;

/** The Claude Desktop mcp.json format: `mcpServers: { name: {command, args, env, cwd} | {url, headers} }`. */
export const McpConfigSchema = z
  .object({ mcpServers: z.record(ServerName, UpstreamServerSchema).default({}) })
  .loose();
export type McpConfig = z.infer<typeof McpConfigSchema>;

/** `${VAR}` from the conductor's environment; the value never appears in an error. */
function expand(
  value: string,
  env: Record<string, string | undefined>,
  where: string,
  missing: string[],
): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    const v = env[name];
    if (v === undefined) {
      missing.push(`- ${where}: the environment variable ${name} is not set`);
      return '';
    }
    return v;
  });
}

export async function loadMcpConfig(
  path: string,
  env: Record<string, string | undefined>,
  read?: (p: string) => Promise<string>,
): Promise<McpConfig> {
  const data = await loadJsonConfig(McpConfigSchema, path, `MCP config ${path}`, read);
  const missing: string[] = [];
  const servers: McpConfig['mcpServers'] = {};
  for (const [name, server] of Object.entries(data.mcpServers)) {
    if ('command' in server) {
      const e = Object.fromEntries(
        Object.entries(server.env).map(([k, v]) => [
          k,
          expand(v, env, `mcpServers.${name}.env.${k}`, missing),
        ]),
      );
      servers[name] = { ...server, env: e };
    } else {
      const h = Object.fromEntries(
        Object.entries(server.headers).map(([k, v]) => [
          k,
          expand(v, env, `mcpServers.${name}.headers.${k}`, missing),
        ]),
      );
      servers[name] = { ...server, headers: h };
    }
  }
  if (missing.length > 0)
    throw new ConfigError(`the MCP config ${path} refers to unset variables:\n${missing.join('\n')}`);
  return { mcpServers: servers };
}

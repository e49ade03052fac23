import { homedir, tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../core/index.js';
import { readLegacyEnv } from './legacy-env.js';
import { readTracingSettings, type TracingSettings } from './otel-env.js';
import { QUOTA_BOUNDS, type Quotas } from './tenants.js';

/** The admin's environment, parsed once by cli.ts. The model can change none of it. */
export interface ConductorSettings {
  workspaceDir: string;
  /**
   * Where the per-execution socket directories are made. A conductor in a container needs it at the same path on
   * the host (the engine resolves bind mounts there), so it is a setting.
   */
  socketDir: string;
  /** a directory of secret files (Docker secrets) whose contents `${NAME}` in mcp.json may use */
  secretsDir: string | undefined;
  runArgs: string | undefined;
  mcpConfigPath: string | undefined;
  /** true when the path was given explicitly (a missing file is then an error) */
  mcpConfigExplicit: boolean;
  policy: string;
  tenantsPath: string | undefined;
  poolSize: number | undefined;
  maxConcurrency: number;
  maxQueued: number;
  logLevel: string;
  /** the single-tenant deployment's quotas (stdio, serve without a tenants file); tenants have their own */
  quotas: Quotas;
  /** MCP_CONDUCTOR_AUDIT_LOG: the audit log file (serve's --audit-log wins over it) */
  auditLogPath: string | undefined;
  registries: { npm?: string; jsr?: string };
  /** MCP_CONDUCTOR_PLAYBOOKS: the playbook stores (the local one; a subdirectory per tenant under serve) */
  playbooksDir: string;
  /** where output past the caps is kept (a directory per conductor process below it) */
  retainedDir: string;
  /** OTEL_EXPORTER_OTLP_*: where traces go; undefined when no endpoint is set (nothing is loaded then) */
  tracing: TracingSettings | undefined;
  /** one line each for the admin, logged at start-up: the original project's names read as ours */
  notices: string[];
}

/** Decimal digits only: Number() would also take "1e3", "0x10", " 8 " or "" (as 0). */
const Int = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^-?\d{1,15}$/, `${name} must be a whole number`)
    .transform(Number)
    .pipe(z.number().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

const Quota = (name: string, key: keyof typeof QUOTA_BOUNDS) =>
  Int(name, QUOTA_BOUNDS[key].min, QUOTA_BOUNDS[key].max).optional();

const AbsolutePath = (name: string) =>
  z.string().refine((p) => isAbsolute(p), `${name} must be an absolute path`);

const EnvSchema = z.object({
  MCP_CONDUCTOR_WORKSPACE: z.string().min(1).optional(),
  MCP_CONDUCTOR_SOCKET_DIR: AbsolutePath('MCP_CONDUCTOR_SOCKET_DIR').optional(),
  MCP_CONDUCTOR_SECRETS_DIR: AbsolutePath('MCP_CONDUCTOR_SECRETS_DIR').optional(),
  MCP_CONDUCTOR_RUN_ARGS: z.string().optional(),
  MCP_CONDUCTOR_MCP_CONFIG: z.string().min(1).optional(),
  MCP_CONDUCTOR_POLICY: z.string().min(1).optional(),
  MCP_CONDUCTOR_TENANTS: z.string().min(1).optional(),
  MCP_CONDUCTOR_POOL_SIZE: Int('MCP_CONDUCTOR_POOL_SIZE', 0, 64).optional(),
  MCP_CONDUCTOR_MAX_CONCURRENCY: Int('MCP_CONDUCTOR_MAX_CONCURRENCY', 1, 256).optional(),
  MCP_CONDUCTOR_MAX_QUEUED: Int('MCP_CONDUCTOR_MAX_QUEUED', 0, 10_000).optional(),
  MCP_CONDUCTOR_RETAINED_DIR: z.string().min(1).optional(),
  MCP_CONDUCTOR_PLAYBOOKS: z.string().min(1).optional(),
  MCP_CONDUCTOR_AUDIT_LOG: z.string().min(1).optional(),
  MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE: Quota('MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE', 'executionsPerMinute'),
  MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE: Quota('MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE', 'mcpCallsPerMinute'),
  MCP_CONDUCTOR_WORKSPACE_QUOTA_MB: Quota('MCP_CONDUCTOR_WORKSPACE_QUOTA_MB', 'workspaceQuotaMb'),
  MCP_CONDUCTOR_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
  NPM_CONFIG_REGISTRY: z.string().url().optional(),
  JSR_URL: z.string().url().optional(),
});

export type EnvVariable = keyof z.infer<typeof EnvSchema> | 'DOCKER_HOST';

/** What each variable does, for `--help` (the README's Environment table says the same at more length). */
export const ENV_HELP: Record<EnvVariable, string> = {
  MCP_CONDUCTOR_WORKSPACE:
    'host directory mounted at /workspace; code writes it as this user (as root: as nobody, given the directory) (default ~/.mcp-conductor/workspace)',
  MCP_CONDUCTOR_RUN_ARGS:
    'Deno permissions, e.g. allow-read=/workspace,allow-write=/workspace,allow-net=api.github.com (default: none)',
  MCP_CONDUCTOR_MCP_CONFIG:
    'mcp.json of upstream servers for mcpFactory (default ~/.mcp-conductor/mcp.json if it exists)',
  MCP_CONDUCTOR_POLICY: 'a policy name in policies/ or a path to one (default: default)',
  MCP_CONDUCTOR_TENANTS:
    'the tenants file of serve: tokens or an identity provider -> tenant, policy, servers',
  MCP_CONDUCTOR_POOL_SIZE:
    'pre-started containers per sandbox configuration, 0-64; 0 disables (default 2 stdio, 4 serve)',
  MCP_CONDUCTOR_MAX_CONCURRENCY: 'executions running at once (default 4)',
  MCP_CONDUCTOR_MAX_QUEUED: 'executions waiting for a slot before calls are refused (default 64)',
  MCP_CONDUCTOR_RETAINED_DIR:
    'where output past the caps is kept for resources/read (default ~/.mcp-conductor/retained)',
  MCP_CONDUCTOR_PLAYBOOKS:
    'saved playbooks for list_playbooks/importPlaybook, a subdirectory per tenant (default ~/.mcp-conductor/playbooks)',
  MCP_CONDUCTOR_SOCKET_DIR:
    'absolute directory for the per-execution socket directories; in a container, the same path as on the host',
  MCP_CONDUCTOR_SECRETS_DIR:
    'directory of secret files (Docker/Kubernetes secrets): ${NAME} in mcp.json reads the file NAME when unset',
  MCP_CONDUCTOR_LOG_LEVEL:
    'fatal, error, warn, info, debug, trace or silent; JSON lines on stderr (default info)',
  MCP_CONDUCTOR_AUDIT_LOG: 'append one JSON line per run_deno_code call to this file (stdio and serve)',
  MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE:
    'executions that may start in any minute (single tenant; default: no limit)',
  MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE:
    'mcpFactory calls that may reach an upstream in any minute (single tenant; default: no limit)',
  MCP_CONDUCTOR_WORKSPACE_QUOTA_MB:
    'hard size limit of the workspace, 16-1048576 (single tenant; default: none)',
  NPM_CONFIG_REGISTRY: 'npm registry mirror for pre-caching the image',
  JSR_URL: 'JSR mirror for pre-caching the image',
  DOCKER_HOST: 'the Docker engine (default /var/run/docker.sock)',
};

export function readSettings(env: Record<string, string | undefined>): ConductorSettings {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = EnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `- ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`the environment is invalid:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const legacy = readLegacyEnv(cleaned);
  const home = legacy.baseDir ?? join(homedir(), '.mcp-conductor');
  const mcpConfig = e.MCP_CONDUCTOR_MCP_CONFIG ?? legacy.mcpConfigPath;
  return {
    workspaceDir: e.MCP_CONDUCTOR_WORKSPACE ?? join(home, 'workspace'),
    socketDir: e.MCP_CONDUCTOR_SOCKET_DIR ?? join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`),
    secretsDir: e.MCP_CONDUCTOR_SECRETS_DIR,
    runArgs: e.MCP_CONDUCTOR_RUN_ARGS,
    mcpConfigPath: mcpConfig ?? join(home, 'mcp.json'),
    mcpConfigExplicit: mcpConfig !== undefined,
    policy: e.MCP_CONDUCTOR_POLICY ?? 'default',
    tenantsPath: e.MCP_CONDUCTOR_TENANTS,
    poolSize: e.MCP_CONDUCTOR_POOL_SIZE,
    maxConcurrency: e.MCP_CONDUCTOR_MAX_CONCURRENCY ?? 4,
    maxQueued: e.MCP_CONDUCTOR_MAX_QUEUED ?? 64,
    logLevel: e.MCP_CONDUCTOR_LOG_LEVEL ?? 'info',
    auditLogPath: e.MCP_CONDUCTOR_AUDIT_LOG,
    quotas: {
      executionsPerMinute: e.MCP_CONDUCTOR_EXECUTIONS_PER_MINUTE,
      mcpCallsPerMinute: e.MCP_CONDUCTOR_MCP_CALLS_PER_MINUTE,
      workspaceQuotaMb: e.MCP_CONDUCTOR_WORKSPACE_QUOTA_MB,
    },
    registries: { npm: e.NPM_CONFIG_REGISTRY, jsr: e.JSR_URL },
    retainedDir: e.MCP_CONDUCTOR_RETAINED_DIR ?? join(home, 'retained'),
    playbooksDir: e.MCP_CONDUCTOR_PLAYBOOKS ?? join(home, 'playbooks'),
    tracing: readTracingSettings(env),
    notices: legacy.notices,
  };
}

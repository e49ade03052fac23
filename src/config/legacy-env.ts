import { ConfigError } from '../core/index.js';
import { convertLegacyRunArgs } from './run-args.js';

/** The original MCP Conductor's variables that are policy limits here, and the limit each one is. */
const LEGACY_LIMITS = {
  MCP_CONDUCTOR_DEFAULT_TIMEOUT: 'defaultTimeoutMs',
  MCP_CONDUCTOR_MAX_TIMEOUT: 'maxTimeoutMs',
  MCP_CONDUCTOR_MAX_RETURN_SIZE: 'maxReturnBytes',
} as const;

/** The original's names this conductor reads, each for `--help`. */
export const LEGACY_ENV_HELP = {
  MCP_CONDUCTOR_PROXY_CONFIG: 'legacy name of MCP_CONDUCTOR_MCP_CONFIG (that one wins when both are set)',
  MCP_CONDUCTOR_BASE_DIR:
    'legacy: the directory in place of ~/.mcp-conductor for the default workspace, mcp.json, playbooks and retained output',
  MCP_CONDUCTOR_ALLOWED_PACKAGES:
    'legacy, not read (a notice says so): code imports the packages pre-cached in the sandbox image',
  MCP_CONDUCTOR_DEFAULT_TIMEOUT: 'legacy, refused at start-up: set limits.defaultTimeoutMs in the policy',
  MCP_CONDUCTOR_MAX_TIMEOUT: 'legacy, refused at start-up: set limits.maxTimeoutMs in the policy',
  MCP_CONDUCTOR_MAX_RETURN_SIZE: 'legacy, refused at start-up: set limits.maxReturnBytes in the policy',
} as const;

export interface LegacySettings {
  /** MCP_CONDUCTOR_PROXY_CONFIG, when MCP_CONDUCTOR_MCP_CONFIG is not set */
  mcpConfigPath: string | undefined;
  /** MCP_CONDUCTOR_BASE_DIR: where the defaults live in place of ~/.mcp-conductor */
  baseDir: string | undefined;
  /** one line each, logged at start-up */
  notices: string[];
}

/**
 * Timeouts and the return cap are policy limits here (one place for every tenant, shown by doctor and the tool
 * description): an environment that still sets them is refused with the policy lines to write, never ignored.
 */
function refuseLegacyLimits(env: Record<string, string | undefined>): void {
  const set = Object.entries(LEGACY_LIMITS).filter(([name]) => env[name] !== undefined);
  if (set.length === 0) return;
  const limits = set.map(([name, key]) => {
    const value = env[name] ?? '';
    return `"${key}": ${/^\d{1,9}$/.test(value) ? value : '<number>'}`;
  });
  throw new ConfigError(
    `the environment uses the original MCP Conductor's names for what are policy limits here:\n${set
      .map(([name, key]) => `- ${name}: write limits.${key} in the policy`)
      .join(
        '\n',
      )}\nput "limits": { ${limits.join(', ')} } in a policy file, set MCP_CONDUCTOR_POLICY to its ` +
      `path and unset ${set.map(([name]) => name).join(', ')}`,
  );
}

/** The original project's variables: read as ours where they mean the same, refused where they do not. */
export function readLegacyEnv(env: Record<string, string | undefined>): LegacySettings {
  refuseLegacyLimits(env);
  const notices: string[] = [];
  const proxyConfig = env.MCP_CONDUCTOR_PROXY_CONFIG;
  if (proxyConfig !== undefined) {
    notices.push(
      env.MCP_CONDUCTOR_MCP_CONFIG === undefined
        ? "MCP_CONDUCTOR_PROXY_CONFIG (the original MCP Conductor's name) is read as MCP_CONDUCTOR_MCP_CONFIG; rename it"
        : "MCP_CONDUCTOR_PROXY_CONFIG (the original MCP Conductor's name) is ignored: MCP_CONDUCTOR_MCP_CONFIG is set and wins",
    );
  }
  const baseDir = env.MCP_CONDUCTOR_BASE_DIR;
  if (baseDir !== undefined) {
    notices.push(
      `MCP_CONDUCTOR_BASE_DIR (the original MCP Conductor's name) is read: the default workspace, mcp.json, playbooks and retained output are below ${baseDir}`,
    );
  }
  if (env.MCP_CONDUCTOR_ALLOWED_PACKAGES !== undefined) {
    // Nothing is wider for it: the image's pre-cached packages are all code can import, whatever the list said.
    notices.push(
      "MCP_CONDUCTOR_ALLOWED_PACKAGES (the original MCP Conductor's name) is not read: code imports the packages pre-cached in the sandbox image (images/deno/image.json; `mcp-conductor image --list` shows them)",
    );
  }
  const converted = convertLegacyRunArgs(env.MCP_CONDUCTOR_RUN_ARGS);
  if (converted !== undefined) {
    notices.push(
      `MCP_CONDUCTOR_RUN_ARGS is in the original MCP Conductor's format (entries split by ";"); it grants the same as MCP_CONDUCTOR_RUN_ARGS=${converted}`,
    );
  }
  return {
    mcpConfigPath: env.MCP_CONDUCTOR_MCP_CONFIG === undefined ? proxyConfig : undefined,
    baseDir,
    notices,
  };
}

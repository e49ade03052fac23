import { join } from 'node:path';
import type { ConductorSettings } from '../config/env.js';
import { effectivePermissions, writesWorkspace } from '../config/load-policy.js';
import type { DenoPermissions } from '../config/permissions.js';
import type { Tenant } from '../config/tenants.js';
import type { EventStream, ExecutionEvent } from '../core/index.js';
import { assertSameHostPaths, type DockerPort, type OwnContainer } from '../docker/index.js';
import type { ImportablePackage } from '../image/index.js';
import type { Logger } from '../obs/index.js';
import {
  createMcpDirectory,
  createUpstreamPool,
  EMPTY_DIRECTORY,
  narrowAllow,
  type McpDirectory,
  type UpstreamPool,
} from '../proxy/index.js';
import {
  createExecutor,
  type Executor,
  type ExecutorDeps,
  type Limiter,
  type SandboxProfile,
  type SandboxSource,
} from '../sandbox/index.js';
import type { AdminInputs } from './admin-inputs.js';
import {
  createToolTypes,
  createTypeChecker,
  type CheckerDeps,
  type TypeChecker,
  type ToolTypes,
} from '../typed/index.js';
import { createPlaybookStore, type PlaybookStore } from '../playbooks/index.js';
import type { RetentionStore } from '../retention/index.js';
import type { TenantRates } from './quotas.js';
import type { WorkspaceMounts } from './workspace-quota.js';
import { prepareWorkspace } from './workspace.js';

/** One caller's view of the conductor: its sandbox profile, executor and upstream servers. */
export interface TenantContext {
  id: string;
  profile: SandboxProfile;
  executor: Executor;
  /** the upstream MCP servers this caller's code may use */
  directory: McpDirectory;
  /** TypeScript declarations of the directory's tools, cached per server */
  toolTypes: ToolTypes;
  /** checks code before it runs when a call asks for it (closed with the conductor) */
  checker: TypeChecker;
  /** output past the caps, served as resources to this tenant */
  retention: RetentionStore;
  /** the tenant's playbooks beside the shipped ones */
  playbooks: PlaybookStore;
  /** what `import` resolves to in the image: each image.json specifier with its package and exact version */
  dependencies: ImportablePackage[];
  /**
   * Out of use (a reload replaced it): lets its executions under way finish, then closes its type checker and its
   * upstream servers. Its warm containers are the conductor's to forget.
   */
  retire(): Promise<void>;
}

/** What every tenant context shares: the engine, the image, the container source and the conductor's signals. */
export interface ContextDeps {
  docker: DockerPort;
  logger: Logger;
  settings: ConductorSettings;
  inputs: AdminInputs;
  image: { tag: string; dependencies: ImportablePackage[] };
  source: SandboxSource;
  bus: EventStream<ExecutionEvent>;
  admission: AbortSignal;
  termination: AbortSignal;
  /** the workspace quota images this conductor mounts */
  mounts: WorkspaceMounts;
  /** every upstream pool made, so the conductor can close them */
  upstreamPools: UpstreamPool[];
  /** what every tenant's type checker needs: the engine, the budget, the owner labels */
  checkerDeps: CheckerDeps;
  /** where output past the caps is kept */
  retention: RetentionStore;
  /** parses user code off the event loop (the conductor's WrapPool) */
  wrap: ExecutorDeps['wrap'];
  version: string;
  /** the container the conductor runs in, if any: the workspaces it hands to sandboxes must be host paths */
  ownContainer: OwnContainer | undefined;
  /** the read-only playbooks shipped with the conductor */
  shippedPlaybooksDir: string;
}

export interface TenantSpec {
  id: string;
  policy: string;
  /** the tenant whose subdirectory of the workspace root is mounted; none: the root itself (the local context) */
  workspaceTenant: string | undefined;
  limiter: Limiter;
  servers: Tenant['servers'];
  /** the tenant's per-minute windows (executions, mcpFactory calls) */
  rates: TenantRates;
  /** the size of the workspace's own filesystem; none: a plain directory */
  workspaceQuotaMb: number | undefined;
  /**
   * MCP_CONDUCTOR_RUN_ARGS for the deployment's own (local) context only: a tenant of `serve` runs with exactly its
   * policy's permissions, so one environment variable can never widen every tenant's grant.
   */
  grant: DenoPermissions | undefined;
}

export async function createTenantContext(deps: ContextDeps, spec: TenantSpec): Promise<TenantContext> {
  const policy = await deps.inputs.policy(spec.policy);
  const quotaMb = policy.workspace.mode === 'none' ? undefined : spec.workspaceQuotaMb;
  const permissions = effectivePermissions(policy, spec.grant);
  // In a container the engine mounts the workspace from the host: the path must be the same there.
  const sameOnHost = (path: string) =>
    deps.ownContainer && assertSameHostPaths(deps.ownContainer, [{ what: 'MCP_CONDUCTOR_WORKSPACE', path }]);
  let workspaceDir: string | undefined;
  if (policy.workspace.mode !== 'none') {
    const { workspaceDir: root } = deps.settings;
    sameOnHost(root);
    // Mounted before anything binds the directory (a container made earlier would keep the bare directory), and
    // before prepareWorkspace opens it: it then opens and chowns the image's root.
    if (quotaMb !== undefined)
      await deps.mounts.ensure(
        spec.workspaceTenant === undefined ? root : join(root, spec.workspaceTenant),
        quotaMb,
      );
    workspaceDir = await prepareWorkspace(root, spec.workspaceTenant, writesWorkspace(policy, permissions));
    sameOnHost(workspaceDir);
  }
  if (policy.container.network !== 'none') await deps.docker.ensureNetwork(policy.container.network);
  const egress = await deps.inputs.egress(spec.policy);
  const profile: SandboxProfile = {
    image: deps.image.tag,
    policy,
    permissions,
    tenant: spec.id,
    workspaceDir,
    ...(egress ? { egress } : {}),
    ...(quotaMb !== undefined ? { workspaceQuotaMb: quotaMb } : {}),
  };
  const logger = deps.logger.child({ tenant: spec.id });
  let directory = EMPTY_DIRECTORY;
  let upstreams: UpstreamPool | undefined;
  const mcpConfig = await deps.inputs.mcpConfig(spec.id);
  if (mcpConfig && Object.keys(mcpConfig.mcpServers).length > 0) {
    // Each tenant gets its own upstream processes, so state in one (a memory server, say) never leaks to another.
    upstreams = createUpstreamPool({
      servers: mcpConfig.mcpServers,
      logger,
      version: deps.version,
      maxReplyBytes: policy.limits.maxMcpReplyBytes,
    });
    deps.upstreamPools.push(upstreams);
    directory = createMcpDirectory({
      pool: upstreams,
      allow: narrowAllow(policy.mcp, spec.servers),
      limits: policy.limits,
      callRate: spec.rates.mcpCalls,
    });
  }
  const toolTypes = createToolTypes(directory);
  const { playbooksDir } = deps.settings;
  // Like the workspace: the local context has the root, each tenant its own subdirectory of it.
  const playbooks = createPlaybookStore({
    shippedDir: deps.shippedPlaybooksDir,
    dir: spec.workspaceTenant === undefined ? playbooksDir : join(playbooksDir, spec.workspaceTenant),
    canCreate: policy.playbooks.create,
  });
  const checker = createTypeChecker({ deps: deps.checkerDeps, profile, toolTypes });
  const executor = createExecutor({
    docker: deps.docker,
    logger,
    source: deps.source,
    limiter: spec.limiter,
    executionRate: spec.rates.executions,
    traced: deps.settings.tracing !== undefined,
    profile,
    directory,
    checker,
    playbooks,
    retention: deps.retention,
    bus: deps.bus,
    admission: deps.admission,
    termination: deps.termination,
    wrap: deps.wrap,
  });
  return {
    id: spec.id,
    profile,
    executor,
    directory,
    toolTypes,
    checker,
    playbooks,
    retention: deps.retention,
    dependencies: deps.image.dependencies,
    retire: async () => {
      await executor.drain();
      await checker.close();
      if (!upstreams) return;
      const i = deps.upstreamPools.indexOf(upstreams);
      if (i >= 0) deps.upstreamPools.splice(i, 1);
      await upstreams.close();
    },
  };
}

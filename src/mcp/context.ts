import type { Logger } from '../obs/index.js';
import type { PlaybookStore } from '../playbooks/index.js';
import type { McpDirectory } from '../proxy/index.js';
import type { Executor, SandboxProfile } from '../sandbox/index.js';
import type { RetentionStore } from '../retention/index.js';
import type { ImportablePackage } from './describe.js';
import type { ToolTypes } from '../typed/index.js';
import type { TaskRegistry } from './tasks.js';

/** What one MCP server (stdio, or one HTTP session) serves: one tenant's executor, profile and upstream servers. */
export interface ServerContext {
  executor: Executor;
  profile: SandboxProfile;
  /** what `import` resolves to in the image: each image.json specifier with its package and exact version */
  dependencies: ImportablePackage[];
  directory: McpDirectory;
  /** the tenant's playbooks (list/get/create_playbook, importPlaybook) */
  playbooks: PlaybookStore;
  /** TypeScript declarations of the directory's tools */
  toolTypes: ToolTypes;
  /** where outputs past the caps are kept; absent: they are cut, and no resources are served */
  retention?: RetentionStore;
  /** the tenant's tasks, shared by all of its sessions (one registry per tenant, made by the composition root) */
  tasks: TaskRegistry;
  logger: Logger;
  version: string;
  /**
   * Calls `listener` each time a reload puts another context of this tenant in use, so that open sessions are told
   * of the new tool description (notifications/tools/list_changed); returns what stops that.
   */
  watchContext?: (listener: () => void) => () => void;
}

/** The parts of a ServerContext a reload may replace: one tenant's context as the conductor has it now. */
export type TenantParts = Pick<
  ServerContext,
  'executor' | 'profile' | 'dependencies' | 'directory' | 'playbooks' | 'toolTypes' | 'retention'
>;

/**
 * A ServerContext that follows its tenant's context in use: after a reload an open session's next call runs with
 * the new policy and upstream servers, while calls under way finish with the old ones. Read at each use, never
 * copied (a spread would fix the values).
 */
export function liveServerContext(
  current: () => TenantParts,
  rest: Pick<ServerContext, 'tasks' | 'logger' | 'version' | 'watchContext'>,
): ServerContext {
  return {
    ...rest,
    get executor() {
      return current().executor;
    },
    get profile() {
      return current().profile;
    },
    get dependencies() {
      return current().dependencies;
    },
    get directory() {
      return current().directory;
    },
    get playbooks() {
      return current().playbooks;
    },
    get toolTypes() {
      return current().toolTypes;
    },
    get retention() {
      return current().retention;
    },
  };
}

import type { Logger } from '../obs/index.js';
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
  /** TypeScript declarations of the directory's tools */
  toolTypes: ToolTypes;
  /** where outputs past the caps are kept; absent: they are cut, and no resources are served */
  retention?: RetentionStore;
  /** the tenant's tasks, shared by all of its sessions (one registry per tenant, made by the composition root) */
  tasks: TaskRegistry;
  logger: Logger;
  version: string;
}

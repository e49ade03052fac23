import type { Logger } from '../obs/index.js';
import type { McpDirectory } from '../proxy/index.js';
import type { Executor, SandboxProfile } from '../sandbox/index.js';

/** What one MCP server (stdio, or one HTTP session) serves: one tenant's executor, profile and upstream servers. */
export interface ServerContext {
  executor: Executor;
  profile: SandboxProfile;
  /** specifiers pre-cached in the image */
  dependencies: string[];
  directory: McpDirectory;
  logger: Logger;
  version: string;
}

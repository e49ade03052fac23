import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConductorPaths } from '../conductor/index.js';
import type { ConductorSettings } from '../config/env.js';

/** The package's own files: dist/cli.js sits one level below the package root, as src/cli.ts does. */
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const imageDir = join(packageRoot, 'images', 'deno');
export const policiesDir = join(packageRoot, 'policies');
export const playbooksDir = join(packageRoot, 'playbooks');
export const version = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;

/** The socket base directory is a setting (MCP_CONDUCTOR_SOCKET_DIR): in a container it must be a host path. */
export const conductorPaths = (settings: ConductorSettings): ConductorPaths => ({
  imageDir,
  policiesDir,
  playbooksDir,
  socketBaseDir: settings.socketDir,
});

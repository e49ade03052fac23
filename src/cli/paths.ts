import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConductorPaths } from '../conductor/index.js';

/** The package's own files: dist/cli.js sits one level below the package root, as src/cli.ts does. */
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const imageDir = join(packageRoot, 'images', 'deno');
export const policiesDir = join(packageRoot, 'policies');
export const version = (
  JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }
).version;

export function socketBaseDir(): string {
  return join(tmpdir(), `mcp-conductor-${process.getuid?.() ?? 'user'}`);
}

export const conductorPaths = (): ConductorPaths => ({
  imageDir,
  policiesDir,
  socketBaseDir: socketBaseDir(),
});

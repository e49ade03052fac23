import { execFile } from 'node:child_process';
import { realpath } from 'node:fs/promises';
import { promisify } from 'node:util';
import { ImageMissingError } from '../core/index.js';
import { resolveSharedLibraries } from './libs.js';

const run = promisify(execFile);

export interface ResolvedTool {
  /** absolute path, the same inside the image as on the host */
  path: string;
  libraries: string[];
}

/** A host program named in the image config: located on PATH, with the shared libraries it needs. */
export async function resolveTool(name: string): Promise<ResolvedTool> {
  let located = name;
  if (!name.startsWith('/')) {
    try {
      located = (await run('which', [name])).stdout.trim();
    } catch (error) {
      throw new ImageMissingError(
        `the image config lists the tool "${name}" but it is not on this host's PATH`,
        { cause: error },
      );
    }
  }
  const path = await realpath(located);
  return { path, libraries: await resolveSharedLibraries(path) };
}

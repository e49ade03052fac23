import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ImageMissingError } from '../core/index.js';

const run = promisify(execFile);

/**
 * The shared libraries a dynamically linked program needs, as the host's dynamic loader resolves them (ldd), so the
 * list follows the host's glibc instead of a hard-coded set. Returns absolute paths, the loader included.
 */
export async function resolveSharedLibraries(binary: string): Promise<string[]> {
  let stdout: string;
  try {
    ({ stdout } = await run('ldd', [binary], { env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } }));
  } catch (error) {
    const out = String((error as { stdout?: string }).stdout ?? '');
    if (out.includes('not a dynamic executable')) return [];
    throw new ImageMissingError(`cannot list the shared libraries of ${binary} (is ldd installed?)`, {
      cause: error,
    });
  }
  return parseLddOutput(stdout, binary);
}

export function parseLddOutput(stdout: string, binary = 'the binary'): string[] {
  const libs = new Set<string>();
  const missing: string[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    const arrow = /^(\S+)\s+=>\s+(\S+)/.exec(line);
    if (arrow) {
      if (arrow[2] === 'not') missing.push(arrow[1]!);
      else if (arrow[2]!.startsWith('/')) libs.add(arrow[2]!);
      continue;
    }
    const direct = /^(\/\S+)\s+\(0x/.exec(line);
    if (direct) libs.add(direct[1]!);
  }
  if (missing.length > 0) {
    throw new ImageMissingError(
      `${binary} needs shared libraries this host does not have: ${missing.join(', ')}`,
    );
  }
  return [...libs].sort();
}

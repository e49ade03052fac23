import { execFile } from 'node:child_process';
import { lstat, open, readdir, readlink, realpath } from 'node:fs/promises';
import { posix } from 'node:path';
import { promisify } from 'node:util';
import type { Tool } from '../config/image-config.js';
import { ImageMissingError } from '../core/index.js';
import type { ImageEntry } from './context.js';
import { resolveSharedLibraries } from './libs.js';

const run = promisify(execFile);

export interface ResolvedTool {
  /** where the program is, the same inside the image as on the host (what allow-run resolves on PATH) */
  path: string;
  /** the program, its helpers and data files, in host order; paths are the same inside the image */
  entries: ImageEntry[];
  /** shared libraries every ELF file among them needs */
  libraries: string[];
}

async function isElf(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    await fh.close();
  }
}

function isUnder(path: string, roots: string[]): boolean {
  return roots.some((r) => path === r || path.startsWith(`${r}/`));
}

/** Where a symlink points, as an absolute path in the same tree (the image mirrors host paths). */
function symlinkTarget(link: string, target: string): string {
  return posix.resolve(posix.dirname(link), target);
}

/**
 * A host program named in the image config: located on PATH, with the helpers and data files the config lists and
 * the shared libraries of every ELF file among them. Set-id bits are dropped. A symlink whose target is not copied
 * is left out (it would dangle), so excluding a helper also drops its aliases.
 */
export async function resolveTool(tool: Tool): Promise<ResolvedTool> {
  let located = tool.program;
  if (!located.startsWith('/')) {
    try {
      located = (await run('which', [located])).stdout.trim();
    } catch (error) {
      throw new ImageMissingError(
        `the image config lists the tool "${tool.program}" but it is not on this host's PATH`,
        { cause: error },
      );
    }
  }
  const real = await realpath(located);
  const files = new Map<string, ImageEntry>();
  const elves: string[] = [];
  const addFile = async (path: string, mode: number) => {
    files.set(path, { kind: 'file', path, mode: mode & 0o777, hostPath: path });
    if (await isElf(path)) elves.push(path);
  };
  await addFile(real, 0o755);
  if (located !== real) files.set(located, { kind: 'symlink', path: located, target: real });

  const walk = async (path: string): Promise<void> => {
    if (isUnder(path, tool.exclude)) return;
    let st;
    try {
      st = await lstat(path);
    } catch (error) {
      throw new ImageMissingError(
        `the image config lists ${path} for the tool "${tool.program}" but this host has no such file`,
        { cause: error },
      );
    }
    if (st.isSymbolicLink()) files.set(path, { kind: 'symlink', path, target: await readlink(path) });
    else if (st.isDirectory()) {
      files.set(path, { kind: 'dir', path, mode: st.mode & 0o777 });
      for (const name of (await readdir(path)).sort()) await walk(posix.join(path, name));
    } else if (st.isFile()) await addFile(path, st.mode);
  };
  for (const p of tool.paths) await walk(p);

  // Links whose target is not copied would dangle: leave them out (repeat for chains of links).
  for (let changed = true; changed;) {
    changed = false;
    for (const [path, e] of files) {
      if (e.kind !== 'symlink') continue;
      const target = symlinkTarget(path, e.target);
      if (!files.has(target)) {
        files.delete(path);
        changed = true;
      }
    }
  }
  const libraries = new Set<string>();
  for (const elf of elves) for (const lib of await resolveSharedLibraries(elf)) libraries.add(lib);
  return { path: located, entries: [...files.values()], libraries: [...libraries].sort() };
}

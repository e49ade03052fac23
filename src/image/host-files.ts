import { lstat, readdir, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { ImageEntry } from './context.js';

/**
 * A host directory as image entries, one per file, directory and symlink, in a stable order, so each file's bytes
 * are part of the content hash (a `tree` entry is not). Files are 0755 when executable, else 0644; directories 0755.
 * `skip` gets each path relative to `hostDir` (posix) and leaves out what it returns true for, with its contents.
 */
export async function hostTreeEntries(
  hostDir: string,
  imageDir: string,
  skip: (relative: string, isDirectory: boolean) => boolean = () => false,
): Promise<ImageEntry[]> {
  const entries: ImageEntry[] = [{ kind: 'dir', path: imageDir, mode: 0o755 }];
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(join(hostDir, rel))).sort();
    for (const name of names) {
      const childRel = rel ? `${rel}/${name}` : name;
      const hostPath = join(hostDir, childRel);
      const path = posix.join(imageDir, childRel);
      const st = await lstat(hostPath);
      if (skip(childRel, st.isDirectory())) continue;
      if (st.isSymbolicLink()) entries.push({ kind: 'symlink', path, target: await readlink(hostPath) });
      else if (st.isDirectory()) {
        entries.push({ kind: 'dir', path, mode: 0o755 });
        await walk(childRel);
      } else if (st.isFile())
        entries.push({ kind: 'file', path, mode: st.mode & 0o111 ? 0o755 : 0o644, hostPath });
    }
  };
  await walk('');
  return entries;
}

interface LockEntry {
  dev?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

/**
 * The package directories (`node_modules/a`, `node_modules/a/node_modules/b`) a production install has, from a
 * package-lock.json (v2 or v3): every entry that is neither a dev dependency nor only needed by one, and not a
 * workspace link. Optional ones (other platforms' binaries) may be absent on disk; the caller checks.
 */
export function productionPackageDirs(lock: unknown): string[] {
  const packages = (lock as { packages?: Record<string, LockEntry> } | null)?.packages;
  if (!packages || typeof packages !== 'object')
    throw new Error('package-lock.json has no "packages" (lockfileVersion 2 or later is needed)');
  return Object.entries(packages)
    .filter(([dir, e]) => dir.startsWith('node_modules/') && !e.dev && !e.devOptional && !e.link)
    .map(([dir]) => dir)
    .sort();
}

/**
 * The production node_modules of `packageRoot` as image entries under `imageRoot`: each production package's own
 * files (its nested node_modules are packages of their own, listed separately), `.bin` links left out.
 */
export async function productionNodeModules(
  packageRoot: string,
  lock: unknown,
  imageRoot: string,
  skip: (relative: string) => boolean = () => false,
): Promise<ImageEntry[]> {
  const byPath = new Map<string, ImageEntry>();
  for (const dir of productionPackageDirs(lock)) {
    const exists = await lstat(join(packageRoot, dir)).then(
      (st) => st.isDirectory(),
      () => false,
    );
    if (!exists) continue;
    // The directories above a package (node_modules, a scope) come first.
    const parts = dir.split('/');
    for (let i = 1; i < parts.length; i++) {
      const path = posix.join(imageRoot, ...parts.slice(0, i));
      if (!byPath.has(path)) byPath.set(path, { kind: 'dir', path, mode: 0o755 });
    }
    const files = await hostTreeEntries(
      join(packageRoot, dir),
      posix.join(imageRoot, dir),
      (rel, isDir) => (isDir && rel.split('/').at(-1) === 'node_modules') || skip(`${dir}/${rel}`),
    );
    for (const e of files) byPath.set(e.path, e);
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

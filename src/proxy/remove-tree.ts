import { randomBytes } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Paths longer than this (in bytes) are cut off and moved up. Well under PATH_MAX (4096), so every directory read or
 * renamed here, plus one name (at most 255 bytes), still has a valid path.
 */
const CUT_AT_BYTES = 2048;

/**
 * Removes a directory tree however deep it is. `fs.rm` works on full paths and fails with ENAMETOOLONG once a path
 * passes PATH_MAX, which used to leave such a tree behind (and every later start-up tripped on it). So a tree too
 * deep is cut first: each subdirectory whose path is longer than CUT_AT_BYTES is renamed to a sibling of the root
 * (the same directory, so the same filesystem, and named `<root>.<hex>` so a sweep of the root's kind still finds a
 * piece an interrupted removal left), and every piece is removed the same way. Each piece is strictly smaller than
 * the tree it came from, so this ends. Symbolic links are removed, never followed. A missing root is success.
 */
export async function removeTree(root: string): Promise<void> {
  if (Buffer.byteLength(root) > CUT_AT_BYTES / 2)
    throw new Error(`refusing to remove a tree at so long a path`);
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    try {
      await rm(dir, { recursive: true, force: true });
      continue;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENAMETOOLONG') throw error;
      const pieces: string[] = [];
      await cutDeep(dir, () => `${root}.${randomBytes(6).toString('hex')}`, pieces);
      if (pieces.length === 0) throw error;
      // This directory again (now shallow enough), then its pieces.
      pending.push(dir, ...pieces);
    }
  }
}

async function cutDeep(dir: string, pieceName: () => string, pieces: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
    throw error;
  });
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    if (Buffer.byteLength(path) > CUT_AT_BYTES) {
      const piece = pieceName();
      await rename(path, piece);
      pieces.push(piece);
    } else {
      await cutDeep(path, pieceName, pieces);
    }
  }
}

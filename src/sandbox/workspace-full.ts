import { statfs } from 'node:fs/promises';

const EXT4_MAGIC = 0xef53;

/**
 * Whether a workspace quota image is full, read on the host at the mount the container binds (so it holds under
 * gVisor too, whose file access goes to that mount). ext4 refuses a large write while it cannot reserve the
 * worst-case metadata of its delayed allocation: a loop of 1 MiB writes stops with about half a MiB still free.
 * False when it is not the quota's ext4 or cannot be read: nothing is guessed.
 */
export async function isWorkspaceFull(dir: string): Promise<boolean> {
  try {
    const s = await statfs(dir);
    if (s.type !== EXT4_MAGIC) return false;
    const availBytes = s.bavail * s.bsize;
    return availBytes < Math.max(1024 * 1024, (s.blocks * s.bsize) / 100) || s.ffree === 0;
  } catch {
    return false;
  }
}

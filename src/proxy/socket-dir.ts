import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** A fresh per-execution directory under the conductor's socket base directory (0700, its own). */
export function createSocketDir(baseDir: string): Promise<string> {
  return mkdtemp(join(baseDir, 'x-'));
}

/** Lets the sandbox user reach the socket (and nothing else of the conductor's). */
export async function handToSandbox(dir: string, path: string, uid: number): Promise<void> {
  if (process.getuid?.() === 0) {
    await chown(dir, uid, uid);
    await chown(path, uid, uid);
    await chmod(dir, 0o700);
    await chmod(path, 0o600);
  } else {
    // Not root: the base dir (0700, ours) keeps other host users out; the sandbox user needs to reach the socket.
    await chmod(dir, 0o711);
    await chmod(path, 0o666);
  }
}

export function removeSocketDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

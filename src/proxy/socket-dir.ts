import { chmod, chown, mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { removeTree } from './remove-tree.js';

/** A fresh per-execution directory under the conductor's socket base directory (0700, its own). */
export function createSocketDir(baseDir: string): Promise<string> {
  return mkdtemp(join(baseDir, 'x-'));
}

/**
 * Lets the sandbox user reach its sockets and nothing else. The directory stays the conductor's (0711: the sandbox
 * user may pass through it, not list or change it); only each socket is handed over (the egress gateway's the same
 * way, see egress/gateway.ts). Deno's grant on a socket's path covers everything below it, so when the directory was
 * the sandbox user's, code with no permissions could remove the socket and put an unbounded file, or a tree too deep
 * to remove, in its place on the host disk. The container also gets the directory read-only (container-spec.ts).
 */
export async function handToSandbox(dir: string, path: string, uid: number): Promise<void> {
  await chmod(dir, 0o711);
  if (process.getuid?.() === 0) {
    await chown(path, uid, uid);
    await chmod(path, 0o600);
  } else {
    // Not root: the base dir (0700, ours) keeps other host users out; the sandbox user needs to reach the socket.
    await chmod(path, 0o666);
  }
}

/** Removes the directory whatever the sandbox left in it (it can leave nothing, but removal must not trust that). */
export function removeSocketDir(dir: string): Promise<void> {
  return removeTree(dir);
}

import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import { SANDBOX_UID } from '../sandbox/index.js';

/**
 * The host directory mounted at /workspace: the workspace root (the local context) or a tenant's subdirectory of it,
 * made if missing and handed to the sandbox user (or, not as root, its group) when we can. Returns the real path to
 * mount.
 *
 * Whoever can write the root could put a symbolic link at a tenant's name; following it would chown its target to the
 * sandbox user and mount it read-write into that tenant's containers. So the root is resolved once, the tenant's
 * entry is opened with O_NOFOLLOW (a link, or anything but a directory, is refused; its real path is then the root's
 * plus its name), and its owner is read and set through that handle, only when it is not the sandbox user's already
 * (chown on every start would also rewrite a tenant's ctime for nothing).
 */
export async function prepareWorkspace(
  root: string,
  tenant: string | undefined,
  logger: Logger,
): Promise<string> {
  await mkdir(root, { recursive: true });
  const realRoot = await realpath(root);
  const dir = tenant === undefined ? realRoot : join(realRoot, tenant);
  if (tenant !== undefined)
    await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  const handle = await openNoFollow(dir, tenant);
  try {
    const st = await handle.stat();
    if (process.getuid?.() === 0) {
      if (st.uid !== SANDBOX_UID || st.gid !== SANDBOX_UID) await handle.chown(SANDBOX_UID, SANDBOX_UID);
      return dir;
    }
    // Not root, but in the sandbox's group (the conductor image's user): the group gets write access instead.
    const shared =
      st.gid === SANDBOX_UID &&
      (await handle.chmod(0o2770).then(
        () => true,
        () => false,
      ));
    if (!shared)
      logger.warn(
        { tenant },
        'not running as root: the sandbox user (65534) may be unable to write the workspace',
      );
  } finally {
    await handle.close();
  }
  return dir;
}

async function openNoFollow(dir: string, tenant: string | undefined): Promise<FileHandle> {
  try {
    return await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw error;
    // Linux says ENOTDIR for a link opened with O_DIRECTORY | O_NOFOLLOW: ask what it is, to say so.
    const link = (await lstat(dir)).isSymbolicLink();
    // Named by the variable, not the host path: the admin knows where that is.
    const what = tenant === undefined ? 'the workspace' : `the workspace of tenant "${tenant}"`;
    const where = tenant === undefined ? '$MCP_CONDUCTOR_WORKSPACE' : `$MCP_CONDUCTOR_WORKSPACE/${tenant}`;
    throw new ConfigError(
      `${what} is ${link ? 'a symbolic link' : 'not a directory'} (${where}): the conductor never follows links there; make it a plain directory`,
      { cause: error },
    );
  }
}

/**
 * The per-execution sockets live here, usually under the shared /tmp: the first process to listen on a socket path
 * wins, so a directory another user made (or can write) would let them intercept executions. Refuse it.
 */
export async function prepareSocketBaseDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const st = await lstat(dir);
  const uid = process.getuid?.();
  if (!st.isDirectory() || (uid !== undefined && st.uid !== uid) || (st.mode & 0o077) !== 0) {
    throw new ConfigError(
      `the socket directory ${dir} must be a directory owned by this user with mode 0700 (remove it and restart)`,
    );
  }
}

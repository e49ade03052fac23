import { constants } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, mkdir, open, realpath, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../core/index.js';
import { sandboxUser, type SandboxUser } from '../sandbox/index.js';

/**
 * The host directory mounted at /workspace: the workspace root (the local context) or a tenant's subdirectory of it,
 * made if missing; returns the real path to mount. As root, the conductor makes the directory itself (not its
 * contents) nobody's, 65534:65534, the user sandboxed code then runs as; not as root, code runs as the conductor's
 * own uid and gid (sandboxUser) and nothing is changed. When the grant lets code write /workspace, a directory that
 * user cannot write is refused here, loudly, instead of failing each write with "Permission denied".
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
  writes: boolean,
): Promise<string> {
  await mkdir(root, { recursive: true });
  const realRoot = await realpath(root);
  const dir = tenant === undefined ? realRoot : join(realRoot, tenant);
  if (tenant !== undefined)
    await mkdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  const handle = await openNoFollow(dir, tenant).catch(async (error: NodeJS.ErrnoException) => {
    // Not even ours to open (nobody's 0700, left by a run as root): say so as for one we cannot write.
    const problem =
      error.code === 'EACCES' && writes
        ? workspaceWriteProblem(await stat(dir), sandboxUser(), workspaceVariable(tenant))
        : undefined;
    throw problem ? new ConfigError(problem, { cause: error }) : error;
  });
  try {
    const user = sandboxUser();
    let st = await handle.stat();
    if (process.getuid?.() === 0 && (st.uid !== user.uid || st.gid !== user.gid)) {
      await handle.chown(user.uid, user.gid);
      st = await handle.stat();
    }
    const problem = writes ? workspaceWriteProblem(st, user, workspaceVariable(tenant)) : undefined;
    if (problem) throw new ConfigError(problem);
  } finally {
    await handle.close();
  }
  return dir;
}

/** Named by the variable, not the host path: the admin knows where that is. */
function workspaceVariable(tenant: string | undefined): string {
  return tenant === undefined ? '$MCP_CONDUCTOR_WORKSPACE' : `$MCP_CONDUCTOR_WORKSPACE/${tenant}`;
}

/** Whether `user` may create files in a directory of this owner and mode, by its one class (ACLs aside). */
function canCreateIn(st: Pick<Stats, 'uid' | 'gid' | 'mode'>, user: SandboxUser): boolean {
  const bits = st.uid === user.uid ? 0o300 : st.gid === user.gid ? 0o030 : 0o003;
  return (st.mode & bits) === bits;
}

/** Why sandboxed code granted write access to /workspace could not write this directory, and what to do; or none. */
export function workspaceWriteProblem(
  st: Pick<Stats, 'uid' | 'gid' | 'mode'>,
  user: SandboxUser,
  where: string,
): string | undefined {
  if (canCreateIn(st, user)) return undefined;
  const owner = `${user.uid}:${user.gid}`;
  return (
    `the workspace (${where}, owner ${st.uid}:${st.gid}, mode ${(st.mode & 0o7777).toString(8)}) is not writable by ${owner}, ` +
    `the user sandboxed code runs as, though the grant lets it write /workspace: ` +
    `run \`chown ${owner} "${where}" && chmod u+rwx "${where}"\` (with sudo if needed), ` +
    `point MCP_CONDUCTOR_WORKSPACE at a directory of yours, or take allow-write=/workspace out of the grant`
  );
}

/**
 * The doctor's view of one workspace directory, changing nothing: whom code runs as, what start-up will do to the
 * directory, and whether that user can write it when the grant writes /workspace (throws saying what to do if not).
 */
export async function describeWorkspaceAccess(
  dir: string,
  writes: boolean,
  asRoot: boolean = process.getuid?.() === 0,
  user: SandboxUser = sandboxUser(),
): Promise<string> {
  const who = asRoot
    ? `code runs as ${user.uid}:${user.gid} (nobody): as root, start-up makes the directory itself (not its contents) nobody's`
    : `code runs as ${user.uid}:${user.gid}, the conductor's own uid and gid; start-up changes nothing`;
  const st = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!st) return `${dir} does not exist yet: start-up makes it; ${who}`;
  const problem = writes
    ? workspaceWriteProblem(asRoot ? { mode: st.mode, ...user } : st, user, dir)
    : undefined;
  if (problem) throw new Error(problem);
  return `${dir} ${writes ? 'writable by that user' : 'not written (the grant does not write /workspace)'}; ${who}`;
}

async function openNoFollow(dir: string, tenant: string | undefined): Promise<FileHandle> {
  try {
    return await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw error;
    // Linux says ENOTDIR for a link opened with O_DIRECTORY | O_NOFOLLOW: ask what it is, to say so.
    const link = (await lstat(dir)).isSymbolicLink();
    const what = tenant === undefined ? 'the workspace' : `the workspace of tenant "${tenant}"`;
    const where = workspaceVariable(tenant);
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

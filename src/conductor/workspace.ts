import { chown, lstat, mkdir } from 'node:fs/promises';
import { ConfigError } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import { SANDBOX_UID } from '../sandbox/index.js';

/** The host directory mounted at /workspace, made if missing and handed to the sandbox user when we can. */
export async function prepareWorkspace(dir: string, logger: Logger): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) await chown(dir, SANDBOX_UID, SANDBOX_UID);
  else
    logger.warn(
      { workspace: dir },
      'not running as root: the sandbox user (65534) may be unable to write the workspace',
    );
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

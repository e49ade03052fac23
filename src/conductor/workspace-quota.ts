import { lstat, mkdir, open, readdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ConfigError } from '../core/index.js';
import type { Logger } from '../obs/index.js';
import { isOwnerTokenAlive, SANDBOX_UID } from '../sandbox/index.js';
import { loopBackingFile, loopDevicesOf, mountAt, readMounts, runTool } from './workspace-image.js';

/**
 * A tenant's workspaceQuotaMb is a filesystem of that size: an ext4 image `<workspace>.ext4` beside the workspace
 * directory, loop-mounted on it by the conductor (as root) before any container binds it. Past its size, writes in
 * the sandbox fail with ENOSPC and nothing else on the host fills up; the image is preallocated, so the space is
 * the tenant's even when the host disk gets full. `<workspace>.ext4.owner` names the conductor that mounted it, so
 * the next start (or `reap`) can tell a dead conductor's mount from a live one's. Nothing here follows a link: the
 * workspace and the image must be what lstat says they are.
 */
export interface WorkspaceMounts {
  /** Mounts the workspace's image (made or grown as needed), or keeps this conductor's mount; once per workspace. */
  ensure(dir: string, sizeMb: number): Promise<void>;
  /** Unmounts every image this conductor mounted; call once its containers are gone. */
  close(): Promise<void>;
}

const MOUNT_OPTIONS = 'loop,nodev,nosuid,noatime';
const MIB = 1024 * 1024;

const imageOf = (target: string) => `${target}.ext4`;
const ownerFileOf = (image: string) => `${image}.owner`;

async function readOwner(image: string): Promise<string | undefined> {
  return (await readFile(ownerFileOf(image), 'utf8').catch(() => undefined))?.trim();
}

async function writeOwner(image: string, owner: string): Promise<void> {
  const tmp = `${ownerFileOf(image)}.${process.pid}`;
  await writeFile(tmp, `${owner}\n`, { mode: 0o600, flag: 'w' });
  await rename(tmp, ownerFileOf(image));
}

/**
 * The directory that holds the image and the mount point: the admin's own. Another user who could write there could
 * put something of theirs in the image's place between our check and the mount; a sticky directory (/tmp) forbids
 * that for files we own.
 */
async function checkHolder(parent: string): Promise<void> {
  const st = await lstat(parent);
  const othersMayWrite = (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0;
  if (!st.isDirectory() || st.uid !== 0 || othersMayWrite)
    throw new ConfigError(
      `a workspace quota needs ${parent} to be a directory owned by root that no one else may write to`,
    );
}

/** The mount point: a real directory of root's or the sandbox user's, never a link. */
async function checkTarget(target: string): Promise<void> {
  await mkdir(target, { mode: 0o755 }).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'EEXIST') throw e;
  });
  const st = await lstat(target);
  if (!st.isDirectory() || (st.uid !== 0 && st.uid !== SANDBOX_UID))
    throw new ConfigError(
      `the workspace ${target} must be a directory (not a link) owned by root or ${SANDBOX_UID}`,
    );
}

/** Makes the preallocated image with the sandbox user owning its root; O_EXCL, so an existing name is never used. */
async function createImage(image: string, sizeMb: number): Promise<void> {
  await (await open(image, 'wx', 0o600)).close();
  try {
    await runTool('fallocate', ['-l', `${sizeMb}MiB`, image]);
    // -m 0: no blocks reserved for root, the sandbox user gets the whole size.
    const root = `root_owner=${SANDBOX_UID}:${SANDBOX_UID},nodiscard`;
    await runTool('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', root, image]);
  } catch (error) {
    await rm(image, { force: true });
    throw error;
  }
}

/** A larger quota grows the image (offline: it is not mounted); a smaller one is only reported, data stays. */
async function resizeImage(image: string, sizeBytes: number, sizeMb: number, log: Logger): Promise<void> {
  if (sizeBytes === sizeMb * MIB) return;
  if (sizeBytes > sizeMb * MIB) {
    log.warn(
      { image, imageMb: sizeBytes / MIB, workspaceQuotaMb: sizeMb },
      'the workspace image is larger than its quota: it is not shrunk automatically (resize2fs it offline)',
    );
    return;
  }
  await runTool('fallocate', ['-l', `${sizeMb}MiB`, image]);
  await runTool('e2fsck', ['-f', '-p', image], [1]);
  await runTool('resize2fs', [image]);
  log.info({ image, workspaceQuotaMb: sizeMb }, 'workspace image grown to its quota');
}

/** Mounts `target`'s image there, or keeps the mount when it is this conductor's (or a dead one's) already. */
async function mountImage(target: string, sizeMb: number, owner: string, log: Logger): Promise<void> {
  const image = imageOf(target);
  const mounted = await mountAt(target);
  if (mounted) {
    const backing = await loopBackingFile(mounted.source);
    if (mounted.fsType !== 'ext4' || backing !== image)
      throw new ConfigError(
        `the workspace ${target} is already a mount point (${mounted.fsType} from ${mounted.source}), not its quota image`,
      );
    const holder = await readOwner(image);
    if (holder && holder !== owner && isOwnerTokenAlive(holder) !== false)
      throw new ConfigError(
        `the workspace ${target} is mounted by another conductor that is still running (pid ${holder.split(':')[1]}): two conductors cannot share a workspace with a quota`,
      );
    await writeOwner(image, owner);
    log.info({ workspace: target }, 'workspace image already mounted; kept');
    return;
  }
  const attached = await loopDevicesOf(image);
  if (attached.length > 0)
    throw new ConfigError(
      `${image} is attached to ${attached.join(', ')} but not mounted at ${target} (a container may still hold it): run \`mcp-conductor reap\`, then \`losetup -d\``,
    );
  if ((await readdir(target)).length > 0)
    throw new ConfigError(
      `the workspace ${target} has files: its quota image would hide them; move them away (or into the image) first`,
    );
  const st = await lstat(image).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
  if (!st) await createImage(image, sizeMb);
  else if (!st.isFile() || st.uid !== 0)
    throw new ConfigError(`${image} must be a regular file owned by root (not a link)`);
  else await resizeImage(image, st.size, sizeMb, log);
  // The owner first: a conductor killed right after the mount leaves a mount the next start can judge.
  await writeOwner(image, owner);
  await runTool('mount', ['-t', 'ext4', '-o', MOUNT_OPTIONS, image, target]);
  log.info({ workspace: target, workspaceQuotaMb: sizeMb }, 'workspace image mounted');
}

/** Unmounts `target` if its image is what is mounted there; busy is reported and left for the next start. */
async function unmountImage(target: string, log: Logger): Promise<boolean> {
  const image = imageOf(target);
  const mounted = await mountAt(target);
  if (!mounted || (await loopBackingFile(mounted.source)) !== image) return false;
  try {
    await runTool('umount', [target]);
  } catch (error) {
    log.warn(
      { err: error, workspace: target },
      'workspace image still in use: left mounted for the next start',
    );
    return false;
  }
  await rm(ownerFileOf(image), { force: true });
  const held = await loopDevicesOf(image);
  if (held.length > 0)
    log.warn({ workspace: target, devices: held }, 'workspace image unmounted, its loop device still held');
  return true;
}

/** The real path of a workspace directory: its holder resolved once (the admin's path), its own name never. */
async function resolveTarget(dir: string): Promise<string> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  const parent = await realpath(dirname(dir));
  await checkHolder(parent);
  return join(parent, basename(dir));
}

/**
 * Why a conductor in a container cannot give a quota, whatever its user: its mount would be made in the container's
 * own mount namespace, and the engine, which resolves the sandboxes' bind mounts on the host, would hand them the
 * bare directory below it, with no limit at all.
 */
export const QUOTA_IN_CONTAINER =
  'workspace quotas need the conductor on the host, not in a container: the ext4 image it loop-mounts on a workspace would be mounted in the container alone, and the engine binds the bare host directory into sandboxes, with no limit (run `mcp-conductor serve` on the host as root for tenants with workspaceQuotaMb, see README "Deploying")';

export function createWorkspaceMounts(deps: {
  owner: string;
  logger: Logger;
  /** the conductor runs in a container (one the engine knows, or any other): no quota can hold */
  inContainer: boolean;
}): WorkspaceMounts {
  const mounts = new Map<string, Promise<string>>();
  return {
    ensure(dir, sizeMb) {
      let p = mounts.get(dir);
      if (!p) {
        if (deps.inContainer)
          return Promise.reject(new ConfigError(`${QUOTA_IN_CONTAINER}; refused: ${dir}`));
        if (process.getuid?.() !== 0)
          return Promise.reject(
            new ConfigError(
              `workspaceQuotaMb needs the conductor to run as root: it loop-mounts an ext4 image at ${dir}`,
            ),
          );
        p = (async () => {
          const target = await resolveTarget(dir);
          await checkTarget(target);
          await mountImage(target, sizeMb, deps.owner, deps.logger);
          return target;
        })();
        mounts.set(dir, p);
        p.catch(() => mounts.delete(dir));
      }
      return p.then(() => undefined);
    },
    async close() {
      const targets = await Promise.allSettled([...mounts.values()]);
      mounts.clear();
      for (const t of targets) if (t.status === 'fulfilled') await unmountImage(t.value, deps.logger);
    },
  };
}

/**
 * Unmounts the quota images under `root` (the workspace itself, or a tenant's directory in it) whose conductor is
 * gone: at start-up, after that conductor's containers were removed, and by `mcp-conductor reap`. Only mounts that
 * follow the convention (`X` backed by `X.ext4` with an owner file) are touched. Returns how many.
 */
export async function reapWorkspaceMounts(root: string, logger: Logger): Promise<number> {
  if (process.getuid?.() !== 0) return 0;
  const real = await realpath(root).catch(() => undefined);
  if (!real) return 0;
  let reaped = 0;
  for (const m of await readMounts()) {
    if (m.fsType !== 'ext4' || (m.mountPoint !== real && dirname(m.mountPoint) !== real)) continue;
    const image = imageOf(m.mountPoint);
    if ((await loopBackingFile(m.source)) !== image) continue;
    const holder = await readOwner(image);
    if (holder === undefined || isOwnerTokenAlive(holder) !== false) continue;
    if (await unmountImage(m.mountPoint, logger)) reaped++;
  }
  return reaped;
}

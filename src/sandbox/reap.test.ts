import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, utimes } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDeepTree } from '../../test/fixtures/deep-tree.js';
import {
  LABEL_HOST,
  LABEL_OWNER,
  LABEL_OWNER_CONTAINER,
  LABEL_PID,
  LABEL_SOCKET_DIR,
  type ManagedContainer,
} from '../docker/index.js';
import { removeSocketDir } from '../proxy/index.js';
import { isOwnerAlive, isOwnerAliveOnEngine, ownerToken, reap } from './reap.js';

const here = (extra: Record<string, string>) => ({ [LABEL_HOST]: hostname(), ...extra });

describe.skipIf(process.platform !== 'linux')('who owns a container', () => {
  const token = ownerToken();
  const [boot, pid, ticks] = token.split(':');

  it('knows this process by boot id, pid and start time', () => {
    expect(token).toMatch(/^[0-9a-f-]{36}:\d+:\d+$/);
    expect(Number(pid)).toBe(process.pid);
    expect(isOwnerAlive(here({ [LABEL_OWNER]: token }))).toBe(true);
  });

  it('treats a live pid that started at another time as a dead owner (a restarted conductor is pid 1 again)', () => {
    expect(isOwnerAlive(here({ [LABEL_OWNER]: `${boot}:${pid}:${Number(ticks) + 1}` }))).toBe(false);
    const [, , initTicks] = ownerToken(1).split(':');
    expect(
      isOwnerAlive(here({ [LABEL_OWNER]: `${boot}:1:${Number(initTicks) + 1}`, [LABEL_PID]: '1' })),
    ).toBe(false);
  });

  it('treats another boot as dead and another host as alive', () => {
    expect(
      isOwnerAlive(here({ [LABEL_OWNER]: `00000000-0000-0000-0000-000000000000:${pid}:${ticks}` })),
    ).toBe(false);
    expect(isOwnerAlive({ [LABEL_HOST]: `not-${hostname()}`, [LABEL_OWNER]: 'whatever' })).toBe(true);
  });

  it('falls back to the pid for containers labelled without an owner token', () => {
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    expect(isOwnerAlive(here({ [LABEL_PID]: String(process.pid) }))).toBe(true);
    expect(isOwnerAlive(here({ [LABEL_PID]: String(gone) }))).toBe(false);
  });

  it('asks the engine about a conductor that runs in another container, and judges its own by the token', () => {
    const [a, b, mine] = ['a', 'b', 'c'].map((c) => c.repeat(64)) as [string, string, string];
    const owners = { own: mine, running: new Set([a]) };
    // Its host name and pid are that container's: meaningless here, so the engine's answer decides.
    const from = (container: string) => ({
      [LABEL_HOST]: 'f00dfeed1234',
      [LABEL_OWNER]: token,
      [LABEL_OWNER_CONTAINER]: container,
    });
    expect(isOwnerAlive(from(a), owners)).toBe(true);
    expect(isOwnerAlive(from(b), owners)).toBe(false);
    // Without the engine's answer, assume alive.
    expect(isOwnerAlive(from(b))).toBe(true);
    // This conductor's own container, restarted: pid 1 again, another start time.
    const mineBefore = {
      ...here({ [LABEL_OWNER]: `${boot}:${pid}:${Number(ticks) + 1}` }),
      [LABEL_OWNER_CONTAINER]: mine,
    };
    expect(isOwnerAlive(mineBefore, owners)).toBe(false);
    expect(isOwnerAlive({ ...mineBefore, [LABEL_OWNER]: token }, owners)).toBe(true);
  });

  it('judges other owner labels (a retained-output directory) the same way, asking the engine once', async () => {
    const [live, gone, mine] = ['d', 'e', 'f'].map((c) => c.repeat(64)) as [string, string, string];
    const asked: string[] = [];
    const docker = {
      inspectContainer: (id: string) => {
        asked.push(id);
        return Promise.resolve(id === live ? { running: true } : undefined);
      },
    } as unknown as Parameters<typeof isOwnerAliveOnEngine>[0];
    // Replicas sharing a host and a host name (host networking): each is pid 1 of its own container, so the token
    // names a pid 1 here that started at another tick; only the engine can tell a live replica from a dead one.
    const [, , initTicks] = ownerToken(1).split(':');
    const replica = (container: string) =>
      here({
        [LABEL_OWNER]: `${boot}:1:${Number(initTicks) + 1}`,
        [LABEL_PID]: '1',
        [LABEL_OWNER_CONTAINER]: container,
      });
    expect(await isOwnerAliveOnEngine(docker, replica(live), mine)).toBe(true);
    expect(await isOwnerAliveOnEngine(docker, replica(gone), mine)).toBe(false);
    // Its own container's earlier process: the token decides, the engine is not asked.
    expect(await isOwnerAliveOnEngine(docker, replica(mine), mine)).toBe(false);
    expect(asked).toEqual([live, gone]);
  });
});

describe.skipIf(process.platform !== 'linux')('reaping past a bad entry', () => {
  const dead = (id: string, socketDir: string): ManagedContainer => ({
    id,
    state: 'running',
    labels: { [LABEL_HOST]: hostname(), [LABEL_OWNER]: `not-this-boot:1:1`, [LABEL_SOCKET_DIR]: socketDir },
  });

  it('logs a container the engine refuses, a directory that resists, and goes on with the rest', async () => {
    const base = await mkdtemp(join(tmpdir(), 'reap-'));
    const dirs = ['x-refused', 'x-fine', 'x-deep-orphan', 'x-orphan'].map((n) => join(base, n));
    for (const d of dirs) await mkdir(d);
    await buildDeepTree(join(base, 'x-deep-orphan', 'tree'));
    const hourAgo = new Date(Date.now() - 3600_000);
    for (const d of dirs) await utimes(d, hourAgo, hourAgo);
    const removed: string[] = [];
    const warnings: string[] = [];
    const docker = {
      listManaged: () => Promise.resolve([dead('refused', dirs[0]!), dead('fine', dirs[1]!)]),
      inspectContainer: () => Promise.resolve(undefined),
      remove: (id: string) =>
        id === 'refused' ? Promise.reject(new Error('conflict')) : (removed.push(id), Promise.resolve()),
    };
    const logger = { warn: (_: unknown, message?: string) => void warnings.push(message ?? '') };
    try {
      expect(await reap(docker, { onlyDead: true, socketBaseDir: base, logger })).toBe(1);
      expect(removed).toEqual(['fine']);
      expect(warnings).toEqual(['could not remove a leftover container']);
      // The refused container's directory is still in use by it; the deep orphan went like any other.
      expect((await readdir(base)).sort()).toEqual(['x-refused']);
    } finally {
      await removeSocketDir(base);
    }
  });
});

import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { LABEL_HOST, LABEL_OWNER, LABEL_PID } from '../docker/index.js';
import { isOwnerAlive, ownerToken } from './reap.js';

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
});

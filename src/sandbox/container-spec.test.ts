import { describe, expect, it } from 'vitest';
import { dockerUser, sandboxUser, tmpfsOptions } from './container-spec.js';

describe('sandboxUser', () => {
  it('is nobody for a root conductor, and the conductor’s own uid and primary gid otherwise', () => {
    expect(sandboxUser(0, 0)).toEqual({ uid: 65534, gid: 65534 });
    expect(sandboxUser(1000, 1001)).toEqual({ uid: 1000, gid: 1001 });
    // No uid to read (not POSIX): never root.
    expect(sandboxUser(undefined, undefined)).toEqual({ uid: 65534, gid: 65534 });
  });

  it('reaches the container as numbers, and owns its tmpfs', () => {
    expect(dockerUser({ uid: 1000, gid: 1001 })).toBe('1000:1001');
    expect(tmpfsOptions(8, { uid: 1000, gid: 1001 })).toContain('uid=1000,gid=1001,mode=0700');
  });
});

import { describe, expect, it } from 'vitest';
import { containerIdCandidates, hostPathProblems } from './own-container.js';

const id = 'ab12'.padEnd(64, 'c');

describe('the conductor’s own container', () => {
  it('finds its id in mountinfo (any cgroup version) and in a v1 or systemd cgroup line', () => {
    const mountinfo = [
      '76 52 0:40 / / rw,relatime master:2 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X',
      `94 76 254:0 /var/lib/docker/containers/${id}/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/vda rw`,
      `95 76 254:0 /var/lib/docker/containers/${id}/hostname /etc/hostname rw,relatime - ext4 /dev/vda rw`,
    ].join('\n');
    expect(containerIdCandidates(mountinfo, '0::/\n')).toEqual([id]);
    const other = 'de'.padEnd(64, '0');
    expect(
      containerIdCandidates('', `4:memory:/docker/${id}\n0::/system.slice/docker-${other}.scope\n`),
    ).toEqual([id, other]);
  });

  it('finds nothing on a host, nor in a file that merely names a container directory', () => {
    expect(containerIdCandidates('25 1 254:0 / / rw - ext4 /dev/vda rw\n', '0::/user.slice\n')).toEqual([]);
    expect(containerIdCandidates(`/var/lib/docker/containers/${id}/config.v2.json`, '')).toEqual([]);
  });

  it('accepts paths on a bind or volume mount whose host path is the same path', () => {
    const mounts = [
      { type: 'bind', source: '/srv/mcpc', destination: '/srv/mcpc' },
      {
        type: 'volume',
        source: '/var/lib/docker/volumes/v/_data',
        destination: '/var/lib/docker/volumes/v/_data',
      },
    ];
    expect(
      hostPathProblems(mounts, [
        { what: 'a', path: '/srv/mcpc/sockets' },
        { what: 'b', path: '/var/lib/docker/volumes/v/_data/workspace' },
        { what: 'c', path: '/srv/mcpc' },
      ]),
    ).toEqual([]);
  });

  it('names a path mounted from elsewhere, on a tmpfs, or not mounted at all', () => {
    const mounts = [
      { type: 'volume', source: '/var/lib/docker/volumes/v/_data', destination: '/data' },
      { type: 'tmpfs', source: '', destination: '/run/sockets' },
      // The longest mount point holding the path decides, whatever the order.
      { type: 'bind', source: '/srv', destination: '/' },
      { type: 'bind', source: '/srv/mcpc-other', destination: '/srv/mcpc' },
    ];
    expect(
      hostPathProblems(mounts, [
        { what: 'a', path: '/data/workspace' },
        { what: 'b', path: '/run/sockets/x' },
        { what: 'c', path: '/srv/mcpc/ws' },
        { what: 'd', path: '/srvx' },
      ]),
    ).toEqual([
      { what: 'a', path: '/data/workspace', hostPath: '/var/lib/docker/volumes/v/_data/workspace' },
      { what: 'b', path: '/run/sockets/x', mountType: 'tmpfs' },
      { what: 'c', path: '/srv/mcpc/ws', hostPath: '/srv/mcpc-other/ws' },
      { what: 'd', path: '/srvx', hostPath: '/srv/srvx' },
    ]);
    expect(hostPathProblems([], [{ what: 'e', path: '/var/lib/x' }])).toEqual([
      { what: 'e', path: '/var/lib/x' },
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { parseMountInfo } from './workspace-image.js';

describe('mountinfo', () => {
  it('reads mount point, type and source, with optional fields and escaped spaces', () => {
    const text = [
      '22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw',
      '47 22 7:0 / /srv/ws\\040one/acme rw,nosuid,nodev,noatime shared:30 master:2 - ext4 /dev/loop0 rw',
      '48 22 0:45 / /tmp rw - tmpfs tmpfs rw,size=64m',
      'garbage',
      '',
    ].join('\n');
    expect(parseMountInfo(text)).toEqual([
      { mountPoint: '/', fsType: 'ext4', source: '/dev/vda' },
      { mountPoint: '/srv/ws one/acme', fsType: 'ext4', source: '/dev/loop0' },
      { mountPoint: '/tmp', fsType: 'tmpfs', source: 'tmpfs' },
    ]);
  });
});

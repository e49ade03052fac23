import { describe, expect, it } from 'vitest';
import { debianPackagesOf, type Dpkg } from './debian.js';

describe('Debian packages of host files', () => {
  it('finds a file’s package under /lib or /usr/lib alike, with its version; unknown files have none', async () => {
    const calls: string[][] = [];
    const dpkg: Dpkg = (args) => {
      calls.push(args);
      if (args[0] === '-S')
        return Promise.resolve(
          'diversion by dash from: /bin/sh\nlibc6:amd64: /lib/x86_64-linux-gnu/libc.so.6\ngit: /usr/bin/git\n',
        );
      return Promise.resolve(
        'libc6:amd64\tlibc6\tamd64\t2.36-9+deb12u14\ngit\tgit\tamd64\t1:2.39.5-0+deb12u3\n',
      );
    };
    const found = await debianPackagesOf(
      ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/git', '/opt/own/tool'],
      dpkg,
    );
    expect(Object.fromEntries(found)).toEqual({
      '/usr/lib/x86_64-linux-gnu/libc.so.6': {
        name: 'libc6',
        version: '2.36-9+deb12u14',
        architecture: 'amd64',
      },
      '/usr/bin/git': { name: 'git', version: '1:2.39.5-0+deb12u3', architecture: 'amd64' },
    });
    expect(calls[0]).toEqual(
      expect.arrayContaining(['-S', '/lib/x86_64-linux-gnu/libc.so.6', '/opt/own/tool']),
    );
  });

  it('gives nothing, without failing, on a host with no dpkg', async () => {
    const found = await debianPackagesOf(['/usr/bin/git'], () =>
      Promise.reject(new Error('spawn dpkg-query ENOENT')),
    );
    expect(found.size).toBe(0);
  });
});

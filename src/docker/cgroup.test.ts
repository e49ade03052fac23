import { describe, expect, it } from 'vitest';
import { readContainerUsage } from './cgroup.js';

describe('readContainerUsage', () => {
  it('reports nothing it cannot see: no guessed peak, pids or full mounts for a container that is not there', async () => {
    const usage = await readContainerUsage('0'.repeat(64), ['/tmp']);
    expect(usage).toEqual({ fullMounts: [] });
  });

  it('takes only an engine id: `..` would read the root cgroup, the whole host', async () => {
    expect(await readContainerUsage('..', ['/dev/shm'])).toEqual({ fullMounts: [] });
    expect(await readContainerUsage('../..', [])).toEqual({ fullMounts: [] });
  });
});

import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../core/index.js';
import { createSilentLogger } from '../obs/index.js';
import { createWorkspaceMounts, QUOTA_IN_CONTAINER } from './workspace-quota.js';

describe('workspace quotas of a conductor in a container', () => {
  it('are refused before anything is made, as root or not: the mount would not reach the sandboxes', async () => {
    const root = await mkdtemp(join(tmpdir(), 'quota-ct-'));
    const mounts = createWorkspaceMounts({ owner: 'x', logger: createSilentLogger(), inContainer: true });
    const refused = mounts.ensure(join(root, 'acme'), 32);
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(`${QUOTA_IN_CONTAINER}; refused: ${join(root, 'acme')}`);
    // No image, no mount point: nothing to clean up, and the next call is refused the same way.
    expect(await readdir(root)).toEqual([]);
    await expect(mounts.ensure(join(root, 'acme'), 32)).rejects.toThrow(QUOTA_IN_CONTAINER);
    await mounts.close();
  });
});

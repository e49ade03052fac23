import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerUnavailableError } from '../core/index.js';
import { explainSocketAccess } from './doctor-container.js';

describe('a refused engine socket', () => {
  it('names the socket’s group and this process’s groups, and how to add the group', async () => {
    const socket = join(await mkdtemp(join(tmpdir(), 'sock-')), 'docker.sock');
    await writeFile(socket, '');
    const { gid } = await stat(socket);
    const refused = new DockerUnavailableError('The Docker engine is not reachable (EACCES …).', {
      cause: Object.assign(new Error('connect EACCES'), { code: 'EACCES' }),
    });
    const explained = (await explainSocketAccess(refused, { DOCKER_HOST: `unix://${socket}` })) as Error;
    expect(explained).toBeInstanceOf(DockerUnavailableError);
    expect(explained.message).toContain(`The socket ${socket} belongs to uid`);
    expect(explained.message).toContain(`group ${gid}`);
    expect(explained.message).toContain(`docker run --group-add ${gid}`);
  });

  it('leaves other failures, and TCP engines, as they are', async () => {
    const missing = new DockerUnavailableError('not reachable (ENOENT)', {
      cause: Object.assign(new Error('x'), { code: 'ENOENT' }),
    });
    expect(await explainSocketAccess(missing, {})).toBe(missing);
    const refused = new DockerUnavailableError('x', {
      cause: Object.assign(new Error('x'), { code: 'EACCES' }),
    });
    expect(await explainSocketAccess(refused, { DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toBe(refused);
  });
});

import Docker from 'dockerode';
import { containerCalls } from './containers.js';
import { guard } from './engine-errors.js';
import { imageCalls } from './images.js';
import { networkCalls } from './networks.js';
import type { DockerPort } from './port.js';

/** The port over a real engine (dockerode's usual DOCKER_HOST rules): engine, image, container and network calls. */
export function createDockerClient(docker: Docker = new Docker()): DockerPort {
  return {
    ping: () => guard('ping the engine', async () => void (await docker.ping())),
    info: () =>
      guard('read engine info', async () => {
        const info = (await docker.info()) as {
          ServerVersion: string;
          Architecture: string;
          Runtimes?: object;
        };
        return {
          serverVersion: info.ServerVersion,
          architecture: info.Architecture,
          runtimes: Object.keys(info.Runtimes ?? {}),
        };
      }),
    ...imageCalls(docker),
    ...containerCalls(docker),
    ...networkCalls(docker),
  };
}
